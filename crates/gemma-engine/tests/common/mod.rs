//! Helpers shared by the engine's integration tests.

use std::sync::Arc;

use gemma_engine::LoadedModel;

/// The default model, fetched once.
pub fn model() -> Arc<LoadedModel> {
    let path = gemma_hub::ensure_default_model(false).expect("default model (run `gemma pull`)");
    LoadedModel::load(&path).expect("load default model")
}

/// The largest absolute difference between two slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}
