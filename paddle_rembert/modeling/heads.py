"""Forward passes of the task heads that are the same for every encoder model.

A model file declares its head classes with transformers' names and module names
(``self.rembert``/``self.albert``, ``self.classifier``, ``self.qa_outputs`` ...) and inherits the
forward pass from one of these mixins. The mixins only use ``self.base_model`` (the backbone,
found through ``base_model_prefix``) and the head's own layers, so BERT, RoBERTa or ELECTRA can
reuse them or override ``forward`` where their head differs.
"""
from .losses import cross_entropy, sequence_classification_loss, span_loss, token_loss
from .outputs import (
    MaskedLMOutput,
    MultipleChoiceModelOutput,
    QuestionAnsweringModelOutput,
    SequenceClassifierOutput,
    TokenClassifierOutput,
)


def _backbone_kwargs(attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds,
                     output_attentions, output_hidden_states):
    return dict(attention_mask=attention_mask, token_type_ids=token_type_ids, position_ids=position_ids,
                head_mask=head_mask, inputs_embeds=inputs_embeds, output_attentions=output_attentions,
                output_hidden_states=output_hidden_states)


class SequenceClassificationHead:
    """Pooled ``[CLS]`` output -> ``dropout`` -> ``classifier``; loss by ``problem_type``."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = sequence_classification_loss(self.config, logits, labels)
        return self.wrap_output(SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions),
            return_dict)


class MaskedLMHead:
    """Every position -> the model's ``lm_head`` -> vocabulary logits; cross-entropy ignoring -100."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.lm_head(outputs.last_hidden_state)
        return self.wrap_output(MaskedLMOutput(
            loss=token_loss(logits, labels), logits=logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict)


class TokenClassificationHead:
    """Every position -> ``dropout`` -> ``classifier``; cross-entropy ignoring label -100."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.classifier(self.dropout(outputs.last_hidden_state))
        return self.wrap_output(TokenClassifierOutput(
            loss=token_loss(logits, labels), logits=logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict)


class QuestionAnsweringHead:
    """Every position -> ``qa_outputs`` -> (start, end) logits; loss ignores out-of-range spans."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, start_positions=None, end_positions=None, output_attentions=None,
                output_hidden_states=None, return_dict=None):
        outputs = self.base_model(input_ids, **_backbone_kwargs(
            attention_mask, token_type_ids, position_ids, head_mask, inputs_embeds, output_attentions,
            output_hidden_states))
        logits = self.qa_outputs(outputs.last_hidden_state)
        start_logits, end_logits = logits[..., 0], logits[..., 1]
        return self.wrap_output(QuestionAnsweringModelOutput(
            loss=span_loss(start_logits, end_logits, start_positions, end_positions),
            start_logits=start_logits, end_logits=end_logits, hidden_states=outputs.hidden_states,
            attentions=outputs.attentions), return_dict)


class MultipleChoiceHead:
    """Inputs ``[B, C, L]`` are flattened to ``[B*C, L]``; pooled -> ``classifier`` -> ``[B, C]`` logits."""

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, position_ids=None, head_mask=None,
                inputs_embeds=None, labels=None, output_attentions=None, output_hidden_states=None,
                return_dict=None):
        first = input_ids if input_ids is not None else inputs_embeds
        num_choices = first.shape[1]

        def flat(x, keep=1):
            return None if x is None else x.reshape([-1] + list(x.shape[-keep:]))

        outputs = self.base_model(flat(input_ids), **_backbone_kwargs(
            flat(attention_mask), flat(token_type_ids), flat(position_ids), head_mask, flat(inputs_embeds, 2),
            output_attentions, output_hidden_states))
        logits = self.classifier(self.dropout(outputs.pooler_output)).reshape([-1, num_choices])
        loss = None if labels is None else cross_entropy(logits, labels)
        return self.wrap_output(MultipleChoiceModelOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions),
            return_dict)
