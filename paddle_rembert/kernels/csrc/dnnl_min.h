// The part of oneDNN 3.x's C API that the operators call, declared here because the Paddle wheel
// ships libdnnl.so.3 but not its headers. Values are oneDNN's documented, ABI-stable constants.
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {
typedef int dnnl_status_t;
constexpr dnnl_status_t dnnl_success = 0;

typedef int dnnl_data_type_t;
constexpr dnnl_data_type_t dnnl_bf16 = 2;
constexpr dnnl_data_type_t dnnl_f32 = 3;
constexpr dnnl_data_type_t dnnl_s32 = 4;
constexpr dnnl_data_type_t dnnl_s8 = 5;
constexpr dnnl_data_type_t dnnl_u8 = 6;

typedef int dnnl_engine_kind_t;
constexpr dnnl_engine_kind_t dnnl_cpu = 1;
constexpr unsigned dnnl_stream_default_flags = 0x1U;  // in order

typedef int dnnl_fpmath_mode_t;
constexpr dnnl_fpmath_mode_t dnnl_fpmath_mode_bf16 = 1;

typedef int dnnl_query_t;
constexpr dnnl_query_t dnnl_query_impl_info_str = 8;

typedef int dnnl_prop_kind_t;
constexpr dnnl_prop_kind_t dnnl_forward_training = 0x40;
constexpr dnnl_prop_kind_t dnnl_backward = 0x80;
constexpr unsigned dnnl_use_scale = 0x2U;
constexpr unsigned dnnl_use_shift = 0x4U;
typedef int dnnl_alg_kind_t;
constexpr dnnl_alg_kind_t dnnl_softmax_accurate = 0x30000;
constexpr dnnl_alg_kind_t dnnl_eltwise_linear = 0x26;  // 3.x numbering (checked against libdnnl.so.3 3.6.2)
constexpr dnnl_alg_kind_t dnnl_eltwise_gelu_tanh = 0x2b;
constexpr dnnl_alg_kind_t dnnl_eltwise_gelu_erf = 0x31;
constexpr dnnl_alg_kind_t dnnl_binary_add = 0x1fff0;

typedef int64_t dnnl_dims_t[12];

#define DNNL_ARG_SRC 1
#define DNNL_ARG_FROM 1
#define DNNL_ARG_DST 17
#define DNNL_ARG_TO 17
#define DNNL_ARG_WEIGHTS 33
#define DNNL_ARG_BIAS 41
#define DNNL_ARG_SRC_1 2
#define DNNL_ARG_ATTR_MULTIPLE_POST_OP(idx) (32768 * ((idx) + 1))
#define DNNL_ARG_ATTR_SCALES 4096
#define DNNL_ARG_MEAN 49
#define DNNL_ARG_VARIANCE 50
#define DNNL_ARG_SCALE 51
#define DNNL_ARG_SHIFT 52
#define DNNL_ARG_DIFF_SCALE 255
#define DNNL_ARG_DIFF_SHIFT 256
#define DNNL_ARG_DIFF_SRC 129
#define DNNL_ARG_DIFF_DST 145

struct dnnl_engine;
struct dnnl_stream;
struct dnnl_memory_desc;
struct dnnl_memory;
struct dnnl_primitive_desc;
struct dnnl_primitive;
struct dnnl_primitive_attr;
struct dnnl_post_ops;
typedef struct dnnl_post_ops* dnnl_post_ops_t;
typedef const struct dnnl_post_ops* const_dnnl_post_ops_t;
typedef struct dnnl_engine* dnnl_engine_t;
typedef struct dnnl_stream* dnnl_stream_t;
typedef struct dnnl_memory_desc* dnnl_memory_desc_t;
typedef const struct dnnl_memory_desc* const_dnnl_memory_desc_t;
typedef struct dnnl_memory* dnnl_memory_t;
typedef struct dnnl_primitive_desc* dnnl_primitive_desc_t;
typedef const struct dnnl_primitive_desc* const_dnnl_primitive_desc_t;
typedef struct dnnl_primitive* dnnl_primitive_t;
typedef const struct dnnl_primitive* const_dnnl_primitive_t;
typedef struct dnnl_primitive_attr* dnnl_primitive_attr_t;
typedef const struct dnnl_primitive_attr* const_dnnl_primitive_attr_t;

typedef struct {
  int arg;
  dnnl_memory_t memory;
} dnnl_exec_arg_t;

dnnl_status_t dnnl_engine_create(dnnl_engine_t* engine, dnnl_engine_kind_t kind, size_t index);
dnnl_status_t dnnl_stream_create(dnnl_stream_t* stream, dnnl_engine_t engine, unsigned flags);
dnnl_status_t dnnl_stream_wait(dnnl_stream_t stream);
dnnl_status_t dnnl_stream_destroy(dnnl_stream_t stream);
dnnl_status_t dnnl_memory_desc_create_with_strides(dnnl_memory_desc_t* memory_desc, int ndims, const dnnl_dims_t dims,
                                                   dnnl_data_type_t data_type, const dnnl_dims_t strides);
dnnl_status_t dnnl_memory_desc_destroy(dnnl_memory_desc_t memory_desc);
dnnl_status_t dnnl_memory_create(dnnl_memory_t* memory, const_dnnl_memory_desc_t memory_desc, dnnl_engine_t engine,
                                 void* handle);
dnnl_status_t dnnl_memory_destroy(dnnl_memory_t memory);
dnnl_status_t dnnl_primitive_attr_create(dnnl_primitive_attr_t* attr);
dnnl_status_t dnnl_primitive_attr_destroy(dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_primitive_attr_set_fpmath_mode(dnnl_primitive_attr_t attr, dnnl_fpmath_mode_t mode);
dnnl_status_t dnnl_primitive_attr_set_scales_mask(dnnl_primitive_attr_t attr, int arg, int mask);
dnnl_status_t dnnl_post_ops_create(dnnl_post_ops_t* post_ops);
dnnl_status_t dnnl_post_ops_destroy(dnnl_post_ops_t post_ops);
dnnl_status_t dnnl_post_ops_append_eltwise(dnnl_post_ops_t post_ops, dnnl_alg_kind_t alg_kind, float alpha, float beta);
dnnl_status_t dnnl_post_ops_append_binary(dnnl_post_ops_t post_ops, dnnl_alg_kind_t alg_kind,
                                          const_dnnl_memory_desc_t src1_desc);
dnnl_status_t dnnl_primitive_attr_set_post_ops(dnnl_primitive_attr_t attr, const_dnnl_post_ops_t post_ops);
dnnl_status_t dnnl_eltwise_forward_primitive_desc_create(dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine,
                                                        dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind,
                                                        const_dnnl_memory_desc_t src_desc,
                                                        const_dnnl_memory_desc_t dst_desc, float alpha, float beta,
                                                        const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_eltwise_backward_primitive_desc_create(dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine,
                                                         dnnl_alg_kind_t alg_kind,
                                                         const_dnnl_memory_desc_t diff_src_desc,
                                                         const_dnnl_memory_desc_t diff_dst_desc,
                                                         const_dnnl_memory_desc_t data_desc, float alpha, float beta,
                                                         const_dnnl_primitive_desc_t hint_fwd_pd,
                                                         const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_layer_normalization_forward_primitive_desc_create(
    dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine, dnnl_prop_kind_t prop_kind,
    const_dnnl_memory_desc_t src_desc, const_dnnl_memory_desc_t dst_desc, const_dnnl_memory_desc_t stat_desc,
    float epsilon, unsigned flags, const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_layer_normalization_backward_primitive_desc_create(
    dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine, dnnl_prop_kind_t prop_kind,
    const_dnnl_memory_desc_t diff_src_desc, const_dnnl_memory_desc_t diff_dst_desc, const_dnnl_memory_desc_t src_desc,
    const_dnnl_memory_desc_t stat_desc, float epsilon, unsigned flags, const_dnnl_primitive_desc_t hint_fwd_pd,
    const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_matmul_primitive_desc_create(dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine,
                                                const_dnnl_memory_desc_t src_desc,
                                                const_dnnl_memory_desc_t weights_desc,
                                                const_dnnl_memory_desc_t bias_desc,
                                                const_dnnl_memory_desc_t dst_desc, const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_softmax_forward_primitive_desc_create(dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine,
                                                        dnnl_prop_kind_t prop_kind, dnnl_alg_kind_t alg_kind,
                                                        const_dnnl_memory_desc_t src_desc,
                                                        const_dnnl_memory_desc_t dst_desc, int softmax_axis,
                                                        const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_softmax_backward_primitive_desc_create(dnnl_primitive_desc_t* primitive_desc, dnnl_engine_t engine,
                                                         dnnl_alg_kind_t alg_kind,
                                                         const_dnnl_memory_desc_t diff_src_desc,
                                                         const_dnnl_memory_desc_t diff_dst_desc,
                                                         const_dnnl_memory_desc_t dst_desc, int softmax_axis,
                                                         const_dnnl_primitive_desc_t hint_fwd_pd,
                                                         const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_reorder_primitive_desc_create(dnnl_primitive_desc_t* reorder_primitive_desc,
                                                 const_dnnl_memory_desc_t src_desc, dnnl_engine_t src_engine,
                                                 const_dnnl_memory_desc_t dst_desc, dnnl_engine_t dst_engine,
                                                 const_dnnl_primitive_attr_t attr);
dnnl_status_t dnnl_primitive_desc_query(const_dnnl_primitive_desc_t primitive_desc, dnnl_query_t what, int index,
                                        void* result);
dnnl_status_t dnnl_primitive_desc_destroy(dnnl_primitive_desc_t primitive_desc);
dnnl_status_t dnnl_primitive_create(dnnl_primitive_t* primitive, const_dnnl_primitive_desc_t primitive_desc);
dnnl_status_t dnnl_primitive_execute(const_dnnl_primitive_t primitive, dnnl_stream_t stream, int nargs,
                                     const dnnl_exec_arg_t* args);
dnnl_status_t dnnl_primitive_destroy(dnnl_primitive_t primitive);
}
