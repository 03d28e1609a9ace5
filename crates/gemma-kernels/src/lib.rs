//! Pure numeric kernels over slices: the tensor type table, dequantization and dot products.
//!
//! Every function here is single-threaded and allocation-free; threads live in the model layer.

pub mod dtype;

pub use dtype::DType;
