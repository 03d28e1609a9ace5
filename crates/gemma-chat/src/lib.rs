//! Chat templates: renders a conversation into the prompt text a chat model expects, with the
//! model's own Jinja chat template, exactly as transformers'
//! `tokenizer.apply_chat_template(messages, tokenize=False)` does.
//!
//! The template runs in an environment rebuilt after transformers' (`trim_blocks`,
//! `lstrip_blocks`, loop controls, `raise_exception`, `strftime_now`, its `tojson`, Python
//! string methods and Python's printing of values) on minijinja, with fuel and recursion limits
//! so that a hostile template cannot hang or exhaust memory. Gemma 1 and 2 templates reject
//! system messages; [`ChatTemplate::render`] then folds the system message into the first user
//! turn ([`fold_system`]), the way Gemma 3's template does.
//!
//! Limits: each render has a fuel budget ([`DEFAULT_FUEL`], see [`ChatTemplate::with_fuel`])
//! covering instructions and allocated data, recursion is capped (minijinja's 500 levels), and
//! renders run on a thread with a stack large enough for the deepest values the fuel allows.
//! One hole remains in minijinja itself: a namespace stored inside itself
//! (`{% set ns.me = ns %}`) and then converted to text with `~`, `string`, `join` or `escape`
//! recurses without end and aborts the process (`{{ ns }}`, `tojson` and `pprint` report an
//! error). Templates are model data: load them from models you trust.
//!
//! ```
//! use gemma_chat::{ChatTemplate, Message};
//!
//! let template = ChatTemplate::builtin_gemma("<bos>");
//! let prompt = template.render(
//!     &[Message::system("Answer briefly."), Message::user("  Capital of France? ")],
//!     true,
//! )?;
//! assert_eq!(
//!     prompt,
//!     "<bos><start_of_turn>user\nAnswer briefly.\n\nCapital of France?<end_of_turn>\n\
//!      <start_of_turn>model\n"
//! );
//!
//! // A model's own template, e.g. from its tokenizer_config.json or GGUF metadata:
//! let source = "{{ bos_token }}{% for m in messages %}[{{ m.role }}] {{ m.content | trim }}\n{% endfor %}";
//! let template = ChatTemplate::new(source, "<s>", "</s>")?;
//! assert_eq!(template.render(&[Message::user(" hi ")], false)?, "<s>[user] hi\n");
//! # Ok::<(), gemma_chat::ChatError>(())
//! ```

mod builtin;
mod config;
mod env;
mod error;
mod pyfmt;
mod pyjson;
mod strftime;
mod template;

pub use builtin::GEMMA_TEMPLATE;
pub use config::CHAT_TEMPLATE_FILE;
pub use error::ChatError;
pub use template::{fold_system, ChatTemplate, Message, DEFAULT_FUEL};
