//! Paired devices: the long-lived credentials `ash web` hands a phone when it opens a pairing
//! link, kept (as hashes) in a file beside agentd's store, so `ash web devices` and
//! `ash web revoke` work from any shell and a revoke takes effect on the next request.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The file, in agentd's state dir.
pub const FILE: &str = "web-devices.json";

/// Longest device name kept: it becomes part of the operator's name agentd records.
pub const MAX_NAME: usize = 40;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Device {
    /// Short and public: what `ash web revoke` takes.
    pub id: String,
    pub name: String,
    /// SHA-256 of the credential; the credential itself lives only in the device's cookie.
    pub token_sha256: String,
    pub paired_at: DateTime<Utc>,
    pub last_used: Option<DateTime<Utc>>,
}

/// The device file: read whole on every check (it is tiny), written by rename.
#[derive(Debug, Clone)]
pub struct Devices {
    path: PathBuf,
}

/// A fresh random secret, as hex.
pub fn secret(bytes: usize) -> anyhow::Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(hex::encode(buf))
}

pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A device name as given, cut to one line of at most `MAX_NAME` characters without control
/// or markup-significant characters; empty becomes "phone".
pub fn clean_name(name: &str) -> String {
    // Invisible and direction-changing characters too: a name must not pass for another one
    // in `ash web devices`.
    let kept: String = name
        .chars()
        .filter(|c| {
            !c.is_control() && !agentd_proto::text::is_hidden(*c) && !"<>&\"'`()".contains(*c)
        })
        .take(MAX_NAME)
        .collect();
    match kept.trim() {
        "" => "phone".to_string(),
        name => name.to_string(),
    }
}

impl Devices {
    pub fn in_dir(dir: &Path) -> Devices {
        Devices {
            path: dir.join(FILE),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn load(&self) -> anyhow::Result<Vec<Device>> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!(
                    "{} is damaged; remove it to pair again",
                    self.path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", self.path.display())),
        }
    }

    /// Holds the file's lock (an OS lock on a file beside it) for one read-change-write, so
    /// `ash web revoke` in a shell and the server marking a device used never undo each other.
    fn locked<T>(
        &self,
        change: impl FnOnce(&mut Vec<Device>) -> anyhow::Result<(T, bool)>,
    ) -> anyhow::Result<T> {
        if let Some(dir) = self.path.parent() {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let lock_path = self.path.with_extension("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&lock_path)
            .with_context(|| format!("cannot open {}", lock_path.display()))?;
        lock.lock()
            .with_context(|| format!("cannot lock {}", lock_path.display()))?;
        let mut all = self.load()?;
        let (out, changed) = change(&mut all)?;
        if changed {
            self.save(&all)?;
        }
        Ok(out)
    }

    fn save(&self, devices: &[Device]) -> anyhow::Result<()> {
        // A temp file of this process's own, renamed over the file: readers never see half.
        let tmp = self
            .path
            .with_extension(format!("json.{}.tmp", std::process::id()));
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        file.write_all(&serde_json::to_vec_pretty(devices)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, &self.path)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }

    /// Records a new device; returns it and its credential.
    pub fn pair(&self, name: &str, now: DateTime<Utc>) -> anyhow::Result<(Device, String)> {
        let token = secret(32)?;
        let device = Device {
            id: secret(4)?,
            name: clean_name(name),
            token_sha256: hash(&token),
            paired_at: now,
            last_used: None,
        };
        self.locked(|all| {
            all.push(device.clone());
            Ok(((), true))
        })?;
        Ok((device, token))
    }

    /// The device holding `token`, marking its use (at most once a minute, to spare the disk).
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> anyhow::Result<Option<Device>> {
        let want = hash(token);
        // Most checks change nothing: read without the lock, and lock only to mark a use.
        let Some(found) = self.load()?.into_iter().find(|d| d.token_sha256 == want) else {
            return Ok(None);
        };
        if found
            .last_used
            .is_some_and(|t| (now - t).num_seconds() < 60)
        {
            return Ok(Some(found));
        }
        self.locked(
            |all| match all.iter_mut().find(|d| d.token_sha256 == want) {
                // Revoked meanwhile.
                None => Ok((None, false)),
                Some(device) => {
                    device.last_used = Some(now);
                    Ok((Some(device.clone()), true))
                }
            },
        )
    }

    /// Ends a device by ID (or unique prefix); returns it.
    pub fn revoke(&self, id: &str) -> anyhow::Result<Device> {
        self.locked(|all| {
            let matching: Vec<usize> = (0..all.len())
                .filter(|&i| all[i].id.starts_with(id) && !id.is_empty())
                .collect();
            match matching.as_slice() {
                [i] => Ok((all.remove(*i), true)),
                [] => Err(anyhow::anyhow!(
                    "no paired device matches '{id}' (ash web devices lists them)"
                )),
                _ => Err(anyhow::anyhow!(
                    "'{id}' matches several devices; type more of the ID"
                )),
            }
        })
    }
}
