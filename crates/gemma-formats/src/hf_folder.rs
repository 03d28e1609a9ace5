//! [`SafetensorsSet`]: the safetensors checkpoint of a Hugging Face model folder, one
//! `model.safetensors` or shards listed by `model.safetensors.index.json`, with tensor
//! lookup by name across shards.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use serde_json::Value as Json;

use crate::safetensors::{json_kind, SafetensorsFile, StTensorInfo};
use crate::st_error::SafetensorsError;

/// The shard index file name.
pub const SAFETENSORS_INDEX: &str = "model.safetensors.index.json";
/// The single-file checkpoint name.
pub const SAFETENSORS_SINGLE: &str = "model.safetensors";

/// All safetensors files of a checkpoint folder, opened and validated, with a name index.
#[derive(Debug)]
pub struct SafetensorsSet {
    dir: PathBuf,
    shards: Vec<SafetensorsFile>,
    /// Tensor name -> index into `shards`.
    tensor_shard: BTreeMap<String, usize>,
}

impl SafetensorsSet {
    /// Opens the checkpoint in `dir`.
    ///
    /// With `model.safetensors.index.json`, every shard named in its `weight_map` is
    /// opened once and every mapped tensor must be in its shard; only mapped tensors
    /// are visible. Otherwise `model.safetensors` is opened and all its tensors are
    /// visible. Neither file: [`SafetensorsError::NoCheckpoint`].
    pub fn open_folder(dir: impl AsRef<Path>) -> Result<SafetensorsSet, SafetensorsError> {
        let dir = dir.as_ref();
        let index = dir.join(SAFETENSORS_INDEX);
        if index.is_file() {
            return SafetensorsSet::open_index(dir, &index);
        }
        let single = dir.join(SAFETENSORS_SINGLE);
        if single.is_file() {
            let file = SafetensorsFile::open(&single)?;
            let tensor_shard = file.tensors().map(|t| (t.name.clone(), 0)).collect();
            return Ok(SafetensorsSet {
                dir: dir.to_path_buf(),
                shards: vec![file],
                tensor_shard,
            });
        }
        Err(SafetensorsError::NoCheckpoint {
            dir: dir.to_path_buf(),
        })
    }

    fn open_index(dir: &Path, index: &Path) -> Result<SafetensorsSet, SafetensorsError> {
        let bad = |reason: String| SafetensorsError::BadIndex {
            index: index.to_path_buf(),
            reason,
        };
        let text = std::fs::read(index).map_err(|source| SafetensorsError::Io {
            path: index.to_path_buf(),
            source,
        })?;
        let json: Json =
            serde_json::from_slice(&text).map_err(|e| bad(format!("invalid JSON: {e}")))?;
        let weight_map = match json.get("weight_map") {
            Some(Json::Object(m)) => m,
            Some(other) => {
                return Err(bad(format!(
                    "weight_map: expected an object, found {}",
                    json_kind(other)
                )))
            }
            None => return Err(bad("no weight_map object".to_string())),
        };

        let mut shards = Vec::new();
        let mut shard_ids: HashMap<&str, usize> = HashMap::new();
        let mut tensor_shard = BTreeMap::new();
        for (tensor, shard) in weight_map {
            let Json::String(shard) = shard else {
                return Err(bad(format!(
                    "weight_map[{tensor:?}]: expected a file name, found {}",
                    json_kind(shard)
                )));
            };
            if !is_plain_relative(shard) {
                return Err(bad(format!(
                    "weight_map[{tensor:?}]: shard {shard:?} is not a relative path inside the folder"
                )));
            }
            let id = match shard_ids.get(shard.as_str()) {
                Some(&id) => id,
                None => {
                    let shard_path = dir.join(shard);
                    if !shard_path.is_file() {
                        return Err(SafetensorsError::MissingShard {
                            index: index.to_path_buf(),
                            tensor: tensor.clone(),
                            shard: shard.clone(),
                        });
                    }
                    shards.push(SafetensorsFile::open(&shard_path)?);
                    shard_ids.insert(shard, shards.len() - 1);
                    shards.len() - 1
                }
            };
            if shards[id].tensor(tensor).is_none() {
                return Err(SafetensorsError::TensorNotInShard {
                    index: index.to_path_buf(),
                    tensor: tensor.clone(),
                    shard: shard.clone(),
                });
            }
            tensor_shard.insert(tensor.clone(), id);
        }
        Ok(SafetensorsSet {
            dir: dir.to_path_buf(),
            shards,
            tensor_shard,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The opened files (one for a single-file checkpoint), in first-use order.
    pub fn shards(&self) -> &[SafetensorsFile] {
        &self.shards
    }

    /// The number of visible tensors.
    pub fn n_tensors(&self) -> usize {
        self.tensor_shard.len()
    }

    /// All visible tensors, sorted by name.
    pub fn tensors(&self) -> impl Iterator<Item = &StTensorInfo> + '_ {
        self.tensor_shard
            .iter()
            .filter_map(|(name, &id)| self.shards.get(id)?.tensor(name))
    }

    /// The position in [`SafetensorsSet::shards`] of the file holding the named tensor.
    pub fn shard_index(&self, name: &str) -> Option<usize> {
        self.tensor_shard.get(name).copied()
    }

    /// The file holding the named tensor.
    pub fn shard_of(&self, name: &str) -> Option<&SafetensorsFile> {
        self.tensor_shard
            .get(name)
            .and_then(|&id| self.shards.get(id))
    }

    /// The named tensor's info.
    pub fn tensor(&self, name: &str) -> Option<&StTensorInfo> {
        self.shard_of(name)?.tensor(name)
    }

    /// The named tensor's bytes (memory-mapped from its shard).
    pub fn tensor_bytes(&self, name: &str) -> Option<&[u8]> {
        self.shard_of(name)?.tensor_bytes(name)
    }

    /// The named tensor's info and bytes together.
    pub fn get(&self, name: &str) -> Option<(&StTensorInfo, &[u8])> {
        let file = self.shard_of(name)?;
        let info = file.tensor(name)?;
        Some((info, file.tensor_data(info)))
    }
}

/// A non-empty relative path made only of normal components (no `..`, no root).
fn is_plain_relative(s: &str) -> bool {
    let p = Path::new(s);
    !s.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}
