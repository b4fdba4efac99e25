//! Bringing a store written by an older build up to this one, on open.

use super::{key, Key, Store};
use crate::catalog::{code_key_id, Catalog, Hash, KeyId};
use crate::error::Result;
use crate::finger::enroll::{prepare, Prepared};
use crate::finger::template::VERSION as TEMPLATE_VERSION;
use crate::finger::Format;

impl Store {
    /// Brings a store written by an older build up to this one, on open:
    /// - a store from before the finger index (manifest version 1): the fingerprint records its
    ///   catalog holds are indexed;
    /// - finger segments prepared by another matcher version: every live template is prepared again
    ///   from its source record (a source this build cannot read any more is removed rather than
    ///   compared as stale cylinders).
    ///
    /// The work is committed in batches and checkpointed; a crash in between repeats the rest on
    /// the next open (putting an identical template is a no-op).
    pub(super) fn upgrade(&self, from_catalog: bool) -> Result<()> {
        struct Todo {
            key: Key,
            source: Vec<u8>,
            format: Format,
            position: u8,
            stale: bool,
        }
        let snap = self.snapshot();
        let mut todo = Vec::new();
        if from_catalog {
            for (loc, state) in snap.catalog().locations.iter() {
                for u in state.users.values() {
                    for f in &u.fingers {
                        if let Some(format) = Format::from_standard_name(&f.format) {
                            todo.push(Todo {
                                key: key(loc, &u.id, &f.id),
                                source: f.data.clone(),
                                format,
                                position: f.position,
                                stale: false,
                            });
                        }
                    }
                }
            }
        }
        for s in snap
            .fingers
            .iter()
            .filter(|s| s.seg.prepared_version() != TEMPLATE_VERSION)
        {
            for r in s.live_rows() {
                let (l, u, t) = s.seg.row_ids(r);
                todo.push(Todo {
                    key: key(l, u, t),
                    source: s.seg.source(r).to_vec(),
                    format: s.seg.source_format(r),
                    position: s.seg.position(r),
                    stale: true,
                });
            }
        }
        drop(snap);
        for batch in todo.chunks(4096) {
            let prepared: Vec<Option<Prepared>> = self.workers().map(batch, 2, |t| {
                prepare(&t.source, Some(t.format), Some(t.position)).ok()
            });
            self.commit_plan(|p| {
                for (t, f) in batch.iter().zip(prepared) {
                    let (l, u, id) = &t.key;
                    match f {
                        Some(f) => p.put_finger(l, u, id, f, t.source.clone()),
                        None if t.stale => {
                            p.remove_finger(l, u, id);
                        }
                        None => {}
                    }
                }
                Ok(())
            })?;
        }
        self.checkpoint()
    }
}

impl Store {
    /// On a writable open: moves the code keys an older build kept in its catalog file or log
    /// (`legacy`) to the key provider — durably, before anything names them by id — then
    /// checkpoints, so the catalog and log are rewritten without them and the old files scrubbed.
    /// Then drops the keys no location uses (see [`Store::retain_keys`]).
    pub(super) fn settle_keys(&self, legacy: &[Hash]) -> Result<()> {
        let mut w = self.writer()?;
        for k in legacy {
            self.code_keys.store(&code_key_id(k), k)?;
        }
        if !legacy.is_empty() {
            w.catalog_dirty = true;
            let r = self.checkpoint_locked(&mut w);
            self.reap(&mut w);
            r?;
        }
        drop(w);
        self.retain_keys(&self.snapshot().catalog);
        Ok(())
    }

    /// Tells the key provider which keys the locations of `catalog` use, so it may drop the
    /// others: keys replaced by a rotation, and keys stored for a commit that failed or was lost.
    /// A failure is harmless (the provider keeps a key too many) and is retried by the next call.
    pub(super) fn retain_keys(&self, catalog: &Catalog) {
        let keep: Vec<KeyId> = catalog
            .locations
            .values()
            .filter_map(|s| s.code_key_id)
            .collect();
        let _ = self.code_keys.retain(&keep);
    }
}

#[cfg(test)]
mod tests {
    use crate::catalog::CatalogOp;
    use crate::store::{OpenOptions, Store};

    /// A log of an older build (version 1) whose record carries the code key itself: opening
    /// moves the key to the key file and rewrites the log without it.
    #[test]
    fn a_key_in_an_old_log_moves_to_the_key_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let key = [0x3c; 32];
        let s = Store::create(dir, "m", 8, OpenOptions::new().threads(1)).unwrap();
        let b64 = "PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw8PDw=";
        let d = format!(
            r#"{{"format":"edgeid.delta/1","location":"hq","sequence":1,"kind":"full","code_key":"{b64}","changes":[{{"op":"upsert_user","user":{{"id":"a","codes":["2580"]}}}}]}}"#
        );
        s.apply_delta(d.as_bytes(), &mut |_| {}).unwrap();
        s.commit_plan(|p| {
            p.apply_catalog(CatalogOp::LegacyApplied {
                location: "hq".into(),
                seq: 2,
                delta_hash: [1; 32],
                code_key: Some(key),
            });
            Ok(())
        })
        .unwrap();
        drop(s);
        // As the older build left it: the key only in the log, a version-1 log header.
        std::fs::remove_file(dir.join("CODE-KEYS")).unwrap();
        let wal = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|x| x == "log"))
            .unwrap();
        let mut b = std::fs::read(&wal).unwrap();
        b[8..12].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32c::crc32c(&b[..28]);
        b[28..32].copy_from_slice(&crc.to_le_bytes());
        std::fs::write(&wal, &b).unwrap();
        assert!(b.windows(32).any(|w| w == key));

        let s = Store::open(dir, OpenOptions::new().threads(1)).unwrap();
        assert_eq!(s.lookup_code(None, "2580").unwrap().unwrap().user, "a");
        assert_eq!(s.sync_status()[0].sequence, 2);
        // Every file, the journal's too.
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.extend(
            std::fs::read_dir(dir.join("journal"))
                .unwrap()
                .map(|e| e.unwrap().path()),
        );
        for p in files.into_iter().filter(|p| p.is_file()) {
            let holds = std::fs::read(&p).unwrap().windows(32).any(|w| w == key);
            assert_eq!(holds, p.ends_with("CODE-KEYS"), "{}", p.display());
        }
    }
}
