//! GGUF reading: header, metadata, tensor infos and memory-mapped tensor data.
