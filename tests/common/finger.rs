//! The committed fingerprint test data (`testdata/fingerprint`): FVC2002 B-set records as minutiae
//! files, the standards' examples and invalid records.

use edgeid::finger::eval::load_dir;
use edgeid::finger::FingerTemplate;
use std::path::{Path, PathBuf};

/// The fingerprint test data.
pub fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fingerprint")
}

/// A file under [`data`].
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data().join(rel)).unwrap()
}

/// The records of FVC2002 database `db` (1–4) as extracted by `set` ("mindtct" or "secugen"):
/// 80 files `<finger>_<impression>.iso`.
pub fn fvc_dir(set: &str, db: u32) -> PathBuf {
    data().join(format!("fvc2002/DB{db}_B/{set}"))
}

/// One record of [`fvc_dir`], by file stem ("101_1").
pub fn record(set: &str, db: u32, name: &str) -> Vec<u8> {
    std::fs::read(fvc_dir(set, db).join(format!("{name}.iso"))).unwrap()
}

/// A prepared template of the data: file stem, record bytes, template.
pub struct Real {
    pub name: String,
    pub record: Vec<u8>,
    pub t: FingerTemplate,
}

/// Every template of [`fvc_dir`], in file order.
pub fn load(set: &str, db: u32) -> Vec<Real> {
    load_dir(&fvc_dir(set, db))
        .unwrap()
        .into_iter()
        .map(|n| Real {
            record: record(set, db, &n.name),
            name: n.name,
            t: n.template,
        })
        .collect()
}

/// Finger and impression of a file stem: "101_5" → ("101", "5").
pub fn split(name: &str) -> (&str, &str) {
    name.rsplit_once('_').unwrap()
}
