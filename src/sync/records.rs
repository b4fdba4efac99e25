//! The records of a delta — users (with their templates and credentials), schedules, doors —
//! parsed and checked one by one (the delta around them is in `delta.rs`).

use super::canonical::{self, Rule};
use super::delta::{as_str, as_u64, at_most, bad, id, invalid_text, kind_of, Ctx, Obj, Op, R};
use super::syntax::{self as syn, card_key, check_code, plate_key, timestamp};
use super::{
    MAX_CREDENTIALS_PER_USER, MAX_FACES_PER_USER, MAX_FINGERS_PER_USER, MAX_RIGHTS_PER_USER,
};
use crate::catalog::{
    AntiPassback, Direction, Door, DoorAccess, FingerRecord, PassbackKind, PunchConfig, Right,
    Schedule, UserAccess, UserRecord,
};
use crate::face::normalize_owned;
use crate::ids::check_name;
use simd_json::{BorrowedValue as Value, StaticNode};

/// Longest anti-passback reset and duplicate-punch window, in seconds (a year).
const MAX_SECONDS: u64 = 366 * 86_400;

/// Refuses a field of delta format 2 inside a format-1 delta.
fn needs_v2(o: &Obj<'_, '_>, field: &str, ctx: &Ctx<'_>) -> R<()> {
    if ctx.version < 2 && o.opt(field).is_some() {
        return Err(bad(
            o.at(field),
            "unknown field in format edgeid.delta/1 (door-decision settings need \"format\": \"edgeid.delta/2\")",
        ));
    }
    Ok(())
}

fn mode(s: &str, path: &str) -> R<String> {
    syn::mode(s).map_err(|m| bad(path, m))?;
    Ok(s.to_string())
}

fn time(v: Option<&str>, path: &str) -> R<Option<i64>> {
    v.map(|s| timestamp(s).map_err(|m| bad(path, m)))
        .transpose()
}

fn hhmm(s: &str, path: &str) -> R<u16> {
    syn::hhmm(s).map_err(|m| bad(path, m))
}

pub(super) fn parse_user(v: &Value<'_>, path: &str, ctx: &Ctx<'_>) -> R<Op> {
    let u = Obj::new(
        v,
        path,
        &[
            "id",
            "name",
            "enabled",
            "valid_from",
            "valid_until",
            "faces",
            "fingers",
            "cards",
            "codes",
            "plates",
            "rights",
            "mode",
            "duress_codes",
        ],
    )?;
    needs_v2(&u, "mode", ctx)?;
    needs_v2(&u, "duress_codes", ctx)?;
    let personal_mode = u
        .opt_str("mode")?
        .map(|m| mode(m, &u.at("mode")))
        .transpose()?;
    let uid = id(u.str("id")?, "user", &u.at("id"))?;
    let name = u.opt_str("name")?.map(str::to_string);
    if let Some(n) = &name {
        check_name(n).map_err(|e| bad(u.at("name"), invalid_text(e)))?;
    }
    let enabled = match u.opt("enabled") {
        None => true,
        Some(Value::Static(StaticNode::Bool(b))) => *b,
        Some(x) => {
            return Err(bad(
                u.at("enabled"),
                format!("expected a boolean, got {}", kind_of(x)),
            ))
        }
    };
    let valid_from = time(u.opt_str("valid_from")?, &u.at("valid_from"))?;
    let valid_until = time(u.opt_str("valid_until")?, &u.at("valid_until"))?;
    if let (Some(a), Some(b)) = (valid_from, valid_until) {
        if b < a {
            return Err(bad(u.at("valid_until"), "is before valid_from"));
        }
    }
    let mut faces = Vec::new();
    for (i, f) in at_most(u.arr("faces")?, MAX_FACES_PER_USER, &u.at("faces"))?
        .iter()
        .enumerate()
    {
        let p = format!("{}[{i}]", u.at("faces"));
        let f = Obj::new(f, &p, &["id", "model", "embedding"])?;
        let fid = id(f.str("id")?, "template", &f.at("id"))?;
        let model = f.str("model")?;
        if model != ctx.model {
            return Err(bad(
                f.at("model"),
                format!("this store holds {} templates, got {model:?}", ctx.model),
            ));
        }
        let b = syn::base64(f.str("embedding")?).map_err(|m| bad(f.at("embedding"), m))?;
        if b.len() % 4 != 0 {
            return Err(bad(
                f.at("embedding"),
                format!("{} bytes is not a whole number of f32", b.len()),
            ));
        }
        let floats: Vec<f32> = b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        drop(b);
        let v = normalize_owned(floats, ctx.dim)
            .map_err(|e| bad(f.at("embedding"), invalid_text(e)))?;
        if faces.iter().any(|(x, _): &(String, Vec<f32>)| *x == fid) {
            return Err(bad(
                f.at("id"),
                format!("template id {fid:?} appears twice"),
            ));
        }
        faces.push((fid, v));
    }
    let mut fingers = Vec::new();
    for (i, f) in at_most(u.arr("fingers")?, MAX_FINGERS_PER_USER, &u.at("fingers"))?
        .iter()
        .enumerate()
    {
        let p = format!("{}[{i}]", u.at("fingers"));
        let f = Obj::new(f, &p, &["id", "position", "format", "data"])?;
        let position = f.u64("position")?;
        if position > 10 {
            return Err(bad(
                f.at("position"),
                format!("finger position must be 0..=10, got {position}"),
            ));
        }
        let format = f.str("format")?;
        if ![
            "iso19794-2:2005",
            "iso19794-2:2011",
            "ansi378:2004",
            "iso19794-2:card-normal",
            "iso19794-2:card-compact",
        ]
        .contains(&format)
        {
            return Err(bad(
                f.at("format"),
                format!("unknown fingerprint format {format:?}"),
            ));
        }
        let data = syn::base64(f.str("data")?).map_err(|m| bad(f.at("data"), m))?;
        if data.is_empty() || data.len() > 65_536 {
            return Err(bad(
                f.at("data"),
                format!("template of {} bytes (1..=65536 expected)", data.len()),
            ));
        }
        let fid = id(f.str("id")?, "template", &f.at("id"))?;
        if fingers.iter().any(|x: &FingerRecord| x.id == fid) {
            return Err(bad(
                f.at("id"),
                format!("template id {fid:?} appears twice"),
            ));
        }
        fingers.push(FingerRecord {
            id: fid,
            position: position as u8,
            format: format.to_string(),
            data,
        });
    }
    let mut cards = Vec::new();
    for (i, c) in at_most(u.arr("cards")?, MAX_CREDENTIALS_PER_USER, &u.at("cards"))?
        .iter()
        .enumerate()
    {
        let p = format!("{}[{i}]", u.at("cards"));
        let c = Obj::new(c, &p, &["format", "number", "facility"])?;
        let format = c.str("format")?;
        let number = match c.req("number")? {
            Value::String(s) => s.to_string(),
            // `1234` would read as the hex digits 1234 or the number 0x4D2: neither is safe.
            _ if format == "csn" => {
                return Err(bad(
                    c.at("number"),
                    "csn number must be a string of hex digits, e.g. \"04A1B2C3\"",
                ))
            }
            n => as_u64(n, &c.at("number"))?.to_string(),
        };
        let facility = c
            .opt("facility")
            .map(|f| as_u64(f, &c.at("facility")))
            .transpose()?;
        let k = card_key(format, &number, facility).map_err(|m| bad(&p, m))?;
        if cards.contains(&k) {
            return Err(bad(&p, format!("card {k} appears twice")));
        }
        cards.push(k);
    }
    let mut codes = Vec::new();
    for (i, c) in at_most(u.arr("codes")?, MAX_CREDENTIALS_PER_USER, &u.at("codes"))?
        .iter()
        .enumerate()
    {
        let p = format!("{}[{i}]", u.at("codes"));
        let s = as_str(c, &p)?;
        check_code(s).map_err(|m| bad(&p, m))?;
        let key = ctx.key.ok_or_else(|| {
            bad(
                &p,
                "the location has no code key yet: send a full synchronisation with code_key first",
            )
        })?;
        let h = key.code_hash(s);
        if codes.contains(&h) {
            return Err(bad(&p, "code appears twice"));
        }
        codes.push(h);
    }
    let mut duress_codes = Vec::new();
    for (i, c) in at_most(
        u.arr("duress_codes")?,
        MAX_CREDENTIALS_PER_USER,
        &u.at("duress_codes"),
    )?
    .iter()
    .enumerate()
    {
        let p = format!("{}[{i}]", u.at("duress_codes"));
        let s = as_str(c, &p)?;
        check_code(s).map_err(|m| bad(&p, m))?;
        let key = ctx.key.ok_or_else(|| {
            bad(
                &p,
                "the location has no code key yet: send a full synchronisation with code_key first",
            )
        })?;
        let h = key.code_hash(s);
        if codes.contains(&h) || duress_codes.contains(&h) {
            return Err(bad(&p, "code appears twice"));
        }
        duress_codes.push(h);
    }
    let mut plates = Vec::new();
    for (i, c) in at_most(u.arr("plates")?, MAX_CREDENTIALS_PER_USER, &u.at("plates"))?
        .iter()
        .enumerate()
    {
        let p = format!("{}[{i}]", u.at("plates"));
        let k = plate_key(as_str(c, &p)?).map_err(|m| bad(&p, m))?;
        if plates.contains(&k) {
            return Err(bad(&p, format!("plate {k} appears twice")));
        }
        plates.push(k);
    }
    let mut rights = Vec::new();
    for (i, r) in at_most(u.arr("rights")?, MAX_RIGHTS_PER_USER, &u.at("rights"))?
        .iter()
        .enumerate()
    {
        let p = format!("{}[{i}]", u.at("rights"));
        let r = Obj::new(r, &p, &["doors", "schedule"])?;
        let mut doors = Vec::new();
        for (j, d) in at_most(r.arr("doors")?, MAX_RIGHTS_PER_USER, &r.at("doors"))?
            .iter()
            .enumerate()
        {
            let dp = format!("{}[{j}]", r.at("doors"));
            doors.push(id(as_str(d, &dp)?, "door", &dp)?);
        }
        if doors.is_empty() {
            return Err(bad(r.at("doors"), "a right names at least one door"));
        }
        let schedule = r
            .opt_str("schedule")?
            .map(|s| id(s, "schedule", &r.at("schedule")))
            .transpose()?;
        rights.push(Right { doors, schedule });
    }
    let hash = canonical::hash(v, Rule::User(ctx.key)).map_err(|w| {
        bad(
            path,
            format!("the user holds {w}; only integers are allowed"),
        )
    })?;
    Ok(Op::UpsertUser(
        UserRecord {
            id: uid,
            name,
            enabled,
            valid_from,
            valid_until,
            faces: faces.iter().map(|f| f.0.clone()).collect(),
            fingers,
            cards,
            codes,
            plates,
            rights,
            hash,
            access: UserAccess {
                mode: personal_mode,
                duress_codes,
            },
        },
        faces,
        Vec::new(),
    ))
}

pub(super) fn parse_schedule(v: &Value<'_>, path: &str) -> R<Schedule> {
    let s = Obj::new(v, path, &["id", "timezone", "weekly", "holidays"])?;
    let sid = id(s.str("id")?, "schedule", &s.at("id"))?;
    let tz = s.str("timezone")?;
    jiff::tz::TimeZone::get(tz)
        .map_err(|_| bad(s.at("timezone"), format!("unknown time zone {tz:?}")))?;
    let mut weekly = Vec::new();
    if let Some(w) = s.opt("weekly") {
        let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let wo = Obj::new(w, &s.at("weekly"), &days)?;
        for (d, name) in days.iter().enumerate() {
            for (i, iv) in wo.arr(name)?.iter().enumerate() {
                let p = format!("{}[{i}]", wo.at(name));
                let Value::Array(pair) = iv else {
                    return Err(bad(&p, "expected [\"HH:MM\", \"HH:MM\"]"));
                };
                if pair.len() != 2 {
                    return Err(bad(&p, "expected [\"HH:MM\", \"HH:MM\"]"));
                }
                let a = hhmm(as_str(&pair[0], &p)?, &p)?;
                let b = hhmm(as_str(&pair[1], &p)?, &p)?;
                if b <= a {
                    return Err(bad(&p, "interval ends before it starts"));
                }
                weekly.push((d as u8, a, b));
            }
        }
    }
    let mut holidays = Vec::new();
    for (i, h) in s.arr("holidays")?.iter().enumerate() {
        let p = format!("{}[{i}]", s.at("holidays"));
        let d = as_str(h, &p)?;
        syn::date(d).map_err(|m| bad(&p, m))?;
        holidays.push(d.to_string());
    }
    Ok(Schedule {
        id: sid,
        timezone: tz.to_string(),
        weekly,
        holidays,
        hash: canonical::hash(v, Rule::Plain).map_err(|w| bad(path, format!("holds {w}")))?,
    })
}

pub(super) fn parse_door(v: &Value<'_>, path: &str, ctx: &Ctx<'_>) -> R<Door> {
    let d = Obj::new(v, path, &["id", "modes", "anti_passback", "punch"])?;
    needs_v2(&d, "anti_passback", ctx)?;
    needs_v2(&d, "punch", ctx)?;
    let did = id(d.str("id")?, "door", &d.at("id"))?;
    let mut modes = Vec::new();
    let mut mode_schedules = Vec::new();
    for (i, m) in d.arr("modes")?.iter().enumerate() {
        let p = format!("{}[{i}]", d.at("modes"));
        match m {
            Value::Object(_) if ctx.version >= 2 => {
                let o = Obj::new(m, &p, &["mode", "schedule"])?;
                modes.push(mode(o.str("mode")?, &o.at("mode"))?);
                mode_schedules.push(
                    o.opt_str("schedule")?
                        .map(|s| id(s, "schedule", &o.at("schedule")))
                        .transpose()?,
                );
            }
            Value::Object(_) => {
                return Err(bad(
                    &p,
                    "a mode with a schedule needs \"format\": \"edgeid.delta/2\"",
                ))
            }
            _ => {
                modes.push(mode(as_str(m, &p)?, &p)?);
                mode_schedules.push(None);
            }
        }
    }
    if mode_schedules.iter().all(Option::is_none) {
        mode_schedules.clear();
    }
    let anti_passback = match d.opt("anti_passback") {
        None => None,
        Some(a) => {
            let p = d.at("anti_passback");
            let a = Obj::new(a, &p, &["area", "direction", "kind", "reset_after"])?;
            let area = id(a.str("area")?, "area", &a.at("area"))?;
            let direction = match a.str("direction")? {
                "entry" => Direction::Entry,
                "exit" => Direction::Exit,
                o => {
                    return Err(bad(
                        a.at("direction"),
                        format!("expected \"entry\" or \"exit\", got {o:?}"),
                    ))
                }
            };
            let kind = match a.str("kind")? {
                "hard" => PassbackKind::Hard,
                "soft" => PassbackKind::Soft,
                o => {
                    return Err(bad(
                        a.at("kind"),
                        format!("expected \"hard\" or \"soft\", got {o:?}"),
                    ))
                }
            };
            let reset_after = a
                .opt("reset_after")
                .map(|x| seconds(x, &a.at("reset_after")))
                .transpose()?;
            Some(AntiPassback {
                area,
                direction,
                kind,
                reset_after,
            })
        }
    };
    let punch = match d.opt("punch") {
        None => None,
        Some(x) => {
            let p = d.at("punch");
            let o = Obj::new(x, &p, &["kind", "duplicate_window"])?;
            let kind = o.str("kind")?;
            if !syn::PUNCHES.contains(&kind) {
                return Err(bad(
                    o.at("kind"),
                    format!(
                        "unknown punch {kind:?} (known: {})",
                        syn::PUNCHES.join(", ")
                    ),
                ));
            }
            let duplicate_window = o
                .opt("duplicate_window")
                .map(|x| seconds(x, &o.at("duplicate_window")))
                .transpose()?
                .unwrap_or(0);
            Some(PunchConfig {
                kind: kind.to_string(),
                duplicate_window,
            })
        }
    };
    Ok(Door {
        id: did,
        modes,
        hash: canonical::hash(v, Rule::Plain).map_err(|w| bad(path, format!("holds {w}")))?,
        access: DoorAccess {
            mode_schedules,
            anti_passback,
            punch,
        },
    })
}

fn seconds(v: &Value<'_>, path: &str) -> R<u64> {
    let s = as_u64(v, path)?;
    if s > MAX_SECONDS {
        return Err(bad(path, format!("at most {MAX_SECONDS} seconds, got {s}")));
    }
    Ok(s)
}
