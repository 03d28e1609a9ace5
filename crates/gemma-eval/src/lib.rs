//! Evaluation as in the paper: perplexity with llama.cpp's protocol, and benchmark scoring by
//! log-likelihood (lm-evaluation-harness's `acc` and `acc_norm`) or greedy exact match.

mod arrow_rows;
mod data;
mod error;
mod load;
mod loglik;
mod perplexity;
mod run;
pub mod tasks;
mod wheel_data;

pub use arrow_rows::read_rows;
pub use data::{
    eval_data_root, hf_rows, hf_rows_in, oe_requests, oe_requests_in, train_data_root, train_rows,
    train_rows_in,
};
pub use error::EvalError;
pub use load::{load_docs, mmlu_doc, MMLU_SUBJECTS};
pub use loglik::{Loglik, LoglikRequest, Scorer};
pub use perplexity::{
    first_scored, perplexity, perplexity_chunks, perplexity_with, read_text_file,
    tokenize_for_perplexity, NllStats, PerplexityOptions, PerplexityProgress, PerplexityResult,
    MIN_PERPLEXITY_CTX,
};
pub use run::{
    default_resume_path, doc_requests, encode_pair, fewshot_prefix, mean_stderr, normalize_answer,
    run_task, DocResult, Metric, Progress, RunConfig, TaskResult,
};
