//! The photo part of `edgeid demo` (feature `vision`): the people of `testdata/face/` enrolled
//! from one photo each (through the quality gate), their other photos identified, and a person who
//! was never enrolled (lin) rejected, with scores, quality and per-stage times.

use crate::out::{round3, Fail, Text};
use crate::vision_cmds::{checkout, extract_file, extractor, VisionOpts};
use edgeid::vision::Timings;
use edgeid::{Change, FaceIdentify, OpenOptions, Store};
use serde::Serialize;
use std::path::Path;

/// The photo enrolled for each person (the first of each identity, lin never).
const NEVER_ENROLLED: &str = "lin";

/// One photo identified.
#[derive(Serialize)]
pub struct PhotoLine {
    photo: String,
    expected: Option<String>,
    found: Option<String>,
    score: Option<f64>,
    quality: String,
    timings_ms: Timings,
    ok: bool,
}

/// What the photo demo did.
#[derive(Serialize)]
pub struct PhotoDemo {
    pub ok: bool,
    model: String,
    threshold: f64,
    enrolled: Vec<String>,
    probes: Vec<PhotoLine>,
    /// Median per photo of the whole extraction (decode, detect, align, embed, quality).
    median_extract_ms: f64,
}

impl PhotoDemo {
    /// The demo's lines for the photo part.
    pub fn text(&self, t: &mut Text) {
        t.line("");
        t.line(format_args!(
            "Faces from photos ({}, threshold {}): enrolled {} from one photo each",
            self.model,
            self.threshold,
            self.enrolled.join(", ")
        ));
        for p in &self.probes {
            let found = match (&p.found, p.score) {
                (Some(u), Some(s)) => format!("{u:<8} score {s:.3}"),
                _ => format!("{:<8} (no score >= {})", "nobody", self.threshold),
            };
            let tm = &p.timings_ms;
            t.line(format_args!(
                "  {:<10} -> {found:<26} {:<16} {:>5.1} ms (detect {:.1}, embed {:.1}, rest {:.1})  {}",
                p.photo,
                p.quality,
                tm.total,
                tm.detect_model,
                tm.embed,
                tm.total - tm.detect_model - tm.embed,
                if p.ok { "ok" } else { "WRONG" }
            ));
        }
        t.line(format_args!(
            "  median {:.1} ms per photo, image to template",
            self.median_extract_ms
        ));
    }
}

/// Runs the photo demo in a temporary store.
pub fn run(dir: &Path) -> Result<PhotoDemo, Fail> {
    let photos_dir = checkout().join("testdata").join("face");
    let mut files: Vec<_> = std::fs::read_dir(&photos_dir)
        .map_err(|e| Fail::new(format!("{}: {e}", photos_dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    files.sort();
    let opts = VisionOpts {
        ort_threads: 1,
        ..VisionOpts::default()
    };
    let mut ex = extractor(&opts)?;
    let model = ex.recogniser().id.clone();
    let threshold = (ex.recogniser().default_threshold as f64 * 1e4).round() / 1e4;
    let store = Store::create(
        dir,
        &model,
        ex.recogniser().dim,
        OpenOptions::new().threads(1),
    )?;
    let (mut enrolled, mut probes, mut times) = (Vec::new(), Vec::new(), Vec::new());
    for p in &files {
        let name = p
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let person = name.split('_').next().unwrap_or_default().to_string();
        let f = extract_file(&mut ex, p)?;
        times.push(f.timings.total);
        let quality = if f.quality.passed {
            "quality ok".to_string()
        } else {
            format!("quality: {}", f.quality.reasons.join(","))
        };
        if person != NEVER_ENROLLED && !enrolled.contains(&person) && f.quality.passed {
            store.commit(&[Change::PutFace {
                location: "local".into(),
                user: person.clone(),
                template: name.clone(),
                embedding: f.embedding,
            }])?;
            enrolled.push(person);
            continue;
        }
        let hits = if f.embedding.is_empty() {
            Vec::new()
        } else {
            store.identify_face(&FaceIdentify::new(&f.embedding).k(1).threshold(threshold))?
        };
        let expected = (person != NEVER_ENROLLED).then_some(person);
        let found = hits.first().map(|h| h.user.clone());
        probes.push(PhotoLine {
            ok: found == expected,
            photo: name,
            expected,
            found,
            score: hits.first().map(|h| round3(h.score)),
            quality,
            timings_ms: crate::vision_cmds::round_timings(f.timings),
        });
    }
    times.sort_by(f64::total_cmp);
    Ok(PhotoDemo {
        ok: probes.iter().all(|p| p.ok) && !probes.is_empty(),
        model,
        threshold,
        enrolled,
        probes,
        median_extract_ms: round3(times.get(times.len() / 2).copied().unwrap_or(f64::NAN)),
    })
}
