//! The built-in Gemma chat template (Gemma 3's turn format), used when a model carries no
//! template of its own.

use crate::ChatTemplate;

/// Gemma's turn format: BOS, then `<start_of_turn>{user|model}\n{content, trimmed}<end_of_turn>\n`
/// per message, and `<start_of_turn>model\n` as the generation prompt. A leading system
/// message becomes a prefix (`{system}\n\n`) of the first user turn, as in Gemma 3's template.
/// Stricter than Gemma 3's template: only `user`, `assistant` (or `model`) and one leading
/// `system` role are accepted, turns must alternate starting with the user, and a system
/// message must be followed by a user message.
pub const GEMMA_TEMPLATE: &str = r#"{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages | length == 1 -%}
        {{ raise_exception('A system message must be followed by a user message') }}
    {%- endif -%}
    {%- set first_user_prefix = messages[0]['content'] ~ '\n\n' -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = '' -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if message['role'] not in ['user', 'assistant', 'model'] -%}
        {{ raise_exception('Unsupported role "' ~ message['role'] ~ '": use user, assistant or a first system message') }}
    {%- endif -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif -%}
    {{ '<start_of_turn>' ~ ('user' if message['role'] == 'user' else 'model') ~ '\n' }}
    {%- if loop.first -%}{{ first_user_prefix }}{%- endif -%}
    {{ message['content'] | trim }}
    {{- '<end_of_turn>\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{ '<start_of_turn>model\n' }}
{%- endif -%}
"#;

/// What the built-in template reports as its origin in errors.
const ORIGIN: &str = "(built-in Gemma template)";

impl ChatTemplate {
    /// The built-in Gemma template ([`GEMMA_TEMPLATE`]) rendering with `bos_token` first
    /// (Gemma's is `<bos>`); its `eos_token` is `<end_of_turn>`, the token that ends a turn.
    pub fn builtin_gemma(bos_token: &str) -> ChatTemplate {
        match ChatTemplate::with_origin(ORIGIN, GEMMA_TEMPLATE, bos_token, "<end_of_turn>") {
            Ok(template) => template,
            // The source is a constant that the tests compile and render.
            Err(err) => unreachable!("the built-in Gemma template does not compile: {err}"),
        }
    }
}
