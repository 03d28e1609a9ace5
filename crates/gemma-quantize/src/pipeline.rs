//! The conversion: open the input, plan metadata and tensor types, then stream each tensor
//! (dequantized to f32 row by row, norms shifted by 1 for folders, quantized to its type)
//! into a temporary file that is renamed over the output at the end.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use gemma_formats::names::general;
use gemma_formats::writer::{padding_after, GgufWriter, TensorSpec};
use gemma_formats::{DType, GgufFile, SafetensorsSet, Value};
use gemma_kernels::{dequantize_row, quantize_row};

use crate::hf::{self, HfTensor};
use crate::mix::{plan_types, MixModel, TensorShape};
use crate::progress::Progress;
use crate::{vocab, FileType, QuantizeError};

/// `general.quantization_version` as llama.cpp writes it (`GGML_QNT_VERSION`).
pub const QUANTIZATION_VERSION: u32 = 2;

/// How to quantize.
#[derive(Clone, Debug)]
pub struct Options {
    /// The target file type.
    pub ftype: FileType,
    /// Overwrite an existing output.
    pub force: bool,
    /// Worker threads (at least 1).
    pub threads: usize,
}

impl Options {
    /// `ftype`, no overwriting, one thread per CPU.
    pub fn new(ftype: FileType) -> Options {
        Options {
            ftype,
            force: false,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// What the input was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InputKind {
    /// A GGUF file.
    Gguf,
    /// A Hugging Face model folder.
    HfFolder,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct Summary {
    /// The input kind.
    pub input: InputKind,
    /// Bytes of the input (the GGUF file, or the folder's safetensors files).
    pub input_bytes: u64,
    /// Bytes of the output file.
    pub output_bytes: u64,
    /// Tensors written.
    pub n_tensors: usize,
    /// Tensors per output type name.
    pub types: BTreeMap<String, usize>,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |b: u64| b as f64 / 1e6;
        let types: Vec<String> = self
            .types
            .iter()
            .map(|(t, n)| format!("{t}: {n}"))
            .collect();
        write!(
            f,
            "{} tensors, {:.1} MB -> {:.1} MB ({})",
            self.n_tensors,
            mb(self.input_bytes),
            mb(self.output_bytes),
            types.join(", ")
        )
    }
}

enum Input {
    Gguf(GgufFile),
    Hf {
        set: SafetensorsSet,
        tensors: Vec<HfTensor>,
    },
}

/// One output tensor.
struct Planned {
    name: String,
    dims: Vec<u64>,
    /// Index into the input's tensor list.
    src: usize,
    target: DType,
}

fn detect(input: &Path) -> Result<InputKind, QuantizeError> {
    if input.is_dir() {
        return if input.join("config.json").is_file() {
            Ok(InputKind::HfFolder)
        } else {
            Err(QuantizeError::NotAModel(input.to_path_buf()))
        };
    }
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(input).map_err(|e| QuantizeError::io(input, e))?;
    match f.read_exact(&mut magic) {
        Ok(()) if &magic == b"GGUF" => Ok(InputKind::Gguf),
        _ => Err(QuantizeError::NotAModel(input.to_path_buf())),
    }
}

/// `path` made absolute without requiring it to exist (its folder must).
fn absolute(path: &Path) -> PathBuf {
    if let Ok(p) = path.canonicalize() {
        return p;
    }
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    match (parent.canonicalize(), path.file_name()) {
        (Ok(dir), Some(name)) => dir.join(name),
        _ => path.to_path_buf(),
    }
}

/// Quantizes `input` (a GGUF file or a Hugging Face folder) into `output`.
pub fn quantize(
    input: &Path,
    output: &Path,
    opts: &Options,
    progress: &mut dyn Progress,
) -> Result<Summary, QuantizeError> {
    let kind = detect(input)?;
    let out_abs = absolute(output);
    if out_abs == absolute(input)
        || (kind == InputKind::HfFolder
            && out_abs.starts_with(absolute(input))
            && out_abs.extension().is_some_and(|e| e == "safetensors"))
    {
        return Err(QuantizeError::SameFile(output.to_path_buf()));
    }
    if output.exists() && !opts.force {
        return Err(QuantizeError::OutputExists(output.to_path_buf()));
    }
    let (input_data, metadata, input_bytes, mix_model) = match kind {
        InputKind::Gguf => open_gguf(input)?,
        InputKind::HfFolder => open_hf(input)?,
    };
    let (shapes, src_types) = input_data.shapes();
    let views: Vec<TensorShape> = shapes
        .iter()
        .zip(&src_types)
        .map(|((name, dims), &dtype)| TensorShape { name, dims, dtype })
        .collect();
    let targets = plan_types(opts.ftype, mix_model, &views);
    let planned: Vec<Planned> = shapes
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(src, ((name, dims), target))| Planned {
            name: name.clone(),
            dims: dims.clone(),
            src,
            target,
        })
        .collect();

    let mut w = GgufWriter::new();
    for (k, v) in metadata {
        w.add(k, v);
    }
    w.add(general::QUANTIZATION_VERSION, QUANTIZATION_VERSION)
        .add(general::FILE_TYPE, opts.ftype.llama_ftype());
    let specs: Vec<TensorSpec> = planned
        .iter()
        .map(|p| TensorSpec {
            name: p.name.clone(),
            dims: p.dims.clone(),
            dtype: p.target,
        })
        .collect();
    let werr = |source| QuantizeError::Write {
        path: output.to_path_buf(),
        source: Box::new(source),
    };
    let (header, alignment) = w.header_for(&specs).map_err(werr)?;

    let dir = out_abs.parent().unwrap_or(Path::new(".")).to_path_buf();
    let tmp = tempfile::Builder::new()
        .prefix(".gemma-quantize-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| QuantizeError::io(&dir, e))?;
    let ioerr = |e| QuantizeError::io(tmp.path(), e);
    let mut out = BufWriter::with_capacity(1 << 20, tmp.as_file());
    out.write_all(&header).map_err(ioerr)?;
    let mut types = BTreeMap::new();
    progress.start(planned.len());
    for (i, p) in planned.iter().enumerate() {
        progress.tensor(i, &p.name, src_types[p.src], p.target);
        let bytes = input_data.convert(p, opts.threads.max(1))?;
        out.write_all(&bytes).map_err(ioerr)?;
        let pad = padding_after(bytes.len() as u64, alignment) as usize;
        out.write_all(&vec![0u8; pad]).map_err(ioerr)?;
        *types.entry(p.target.name().to_string()).or_insert(0) += 1;
    }
    out.flush().map_err(ioerr)?;
    drop(out);
    tmp.as_file().sync_all().map_err(ioerr)?;
    progress.finish();
    let persisted = if opts.force {
        tmp.persist(output)
    } else {
        tmp.persist_noclobber(output)
    };
    persisted.map_err(|e| QuantizeError::io(output, e.error))?;
    let output_bytes = std::fs::metadata(output)
        .map_err(|e| QuantizeError::io(output, e))?
        .len();
    Ok(Summary {
        input: kind,
        input_bytes,
        output_bytes,
        n_tensors: planned.len(),
        types,
    })
}

type Opened = (Input, Vec<(String, Value)>, u64, MixModel);

fn open_gguf(input: &Path) -> Result<Opened, QuantizeError> {
    let file = GgufFile::open(input)?;
    let skip = [
        general::FILE_TYPE,
        general::QUANTIZATION_VERSION,
        "split.no",
        "split.count",
        "split.tensors.count",
    ];
    let metadata: Vec<(String, Value)> = file
        .metadata()
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .cloned()
        .collect();
    let arch = file
        .get_str(general::ARCHITECTURE)?
        .unwrap_or("")
        .to_string();
    let count = |suffix: &str| -> Result<usize, QuantizeError> {
        Ok(file
            .get_u64(&gemma_formats::names::arch_key(&arch, suffix))?
            .unwrap_or(0) as usize)
    };
    let n_layer = count(gemma_formats::names::arch::BLOCK_COUNT)?;
    let heads = count(gemma_formats::names::arch::HEAD_COUNT)?;
    let kv = count(gemma_formats::names::arch::HEAD_COUNT_KV)?;
    let mix = MixModel {
        n_layer,
        n_gqa: heads.checked_div(kv).unwrap_or(1),
    };
    let size = file.file_size();
    Ok((Input::Gguf(file), metadata, size, mix))
}

fn open_hf(dir: &Path) -> Result<Opened, QuantizeError> {
    let cfg = hf::read_config(dir)?;
    let set = SafetensorsSet::open_folder(dir)?;
    let tensors = hf::plan_tensors(&set, &cfg)?;
    let name = absolute(dir)
        .file_name()
        .map_or_else(|| "model".to_string(), |n| n.to_string_lossy().into_owned());
    let mut metadata = hf::model_metadata(&cfg, &name);
    // A folder without tokenizer.json (token ids only) gives a GGUF without a tokenizer:
    // gemma runs it from token ids; llama.cpp needs a vocabulary to load it.
    if dir.join("tokenizer.json").exists() {
        let vocab = vocab::read_vocab(dir, cfg.vocab_size)?;
        metadata.extend(hf::tokenizer_metadata(&vocab));
    }
    let size = set.shards().iter().map(|s| s.file_size()).sum();
    let mix = MixModel {
        n_layer: cfg.num_hidden_layers,
        n_gqa: cfg.num_attention_heads / cfg.num_key_value_heads.max(1),
    };
    Ok((Input::Hf { set, tensors }, metadata, size, mix))
}

impl Input {
    /// (name, dims) of every tensor, and the type each has for the type rules.
    fn shapes(&self) -> (Vec<(String, Vec<u64>)>, Vec<DType>) {
        match self {
            Input::Gguf(f) => f
                .tensors()
                .iter()
                .map(|t| ((t.name.clone(), t.dims.clone()), t.dtype))
                .unzip(),
            Input::Hf { set, tensors } => tensors
                .iter()
                .map(|t| {
                    let stored = set.tensor(&t.hf_name).map_or(DType::F32, |i| i.dtype);
                    // convert_hf_to_gguf.py writes 1-D tensors (norms) as F32.
                    let dtype = if t.dims.len() < 2 { DType::F32 } else { stored };
                    ((t.gguf_name.clone(), t.dims.clone()), dtype)
                })
                .unzip(),
        }
    }

    /// The stored bytes, their type, and whether to add 1 (a transformers norm).
    fn source(&self, index: usize) -> (&[u8], DType, bool) {
        match self {
            Input::Gguf(f) => {
                let t = &f.tensors()[index];
                (f.tensor_data(t), t.dtype, false)
            }
            Input::Hf { set, tensors } => {
                let t = &tensors[index];
                let (info, bytes) = set.get(&t.hf_name).expect("checked when planned");
                (bytes, info.dtype, t.norm)
            }
        }
    }

    /// The output bytes of one planned tensor.
    fn convert(&self, p: &Planned, threads: usize) -> Result<Vec<u8>, QuantizeError> {
        let (raw, stored, add_one) = self.source(p.src);
        if stored == p.target && !add_one {
            return Ok(raw.to_vec());
        }
        let row_len = p.dims[0] as usize;
        let n_rows: usize = p.dims[1..].iter().product::<u64>() as usize;
        let in_row = stored.bytes_for(row_len as u64).unwrap_or(0) as usize;
        let out_row = p
            .target
            .bytes_for(row_len as u64)
            .ok_or_else(|| QuantizeError::Row {
                tensor: p.name.clone(),
                source: gemma_kernels::QuantizeError::PartialBlock {
                    dtype: p.target,
                    n: row_len,
                    block: p.target.block_len(),
                },
            })? as usize;
        if in_row == 0 || raw.len() != in_row * n_rows {
            return Err(QuantizeError::UnsupportedDtype {
                tensor: p.name.clone(),
                dtype: stored,
            });
        }
        let mut out = vec![0u8; out_row * n_rows];
        let rows_per = n_rows.div_ceil(threads).max(1);
        let results: Vec<Result<(), gemma_kernels::QuantizeError>> = std::thread::scope(|s| {
            let handles: Vec<_> = out
                .chunks_mut(rows_per * out_row)
                .zip(raw.chunks(rows_per * in_row))
                .map(|(o, r)| {
                    s.spawn(move || {
                        let mut buf = vec![0f32; row_len];
                        for (orow, rrow) in o.chunks_exact_mut(out_row).zip(r.chunks_exact(in_row))
                        {
                            dequantize_row(stored, rrow, &mut buf);
                            if add_one {
                                for v in &mut buf {
                                    *v += 1.0;
                                }
                            }
                            quantize_row(p.target, &buf, orow)?;
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        for r in results {
            r.map_err(|source| QuantizeError::Row {
                tensor: p.name.clone(),
                source,
            })?;
        }
        Ok(out)
    }
}
