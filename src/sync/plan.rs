//! One change of a delta planned against the store (shared by whole and streamed deltas).

use super::delta::Op;
use super::{refused, Refusal};
use crate::catalog::CatalogOp;
use crate::error::Result;
use crate::finger::enroll::Prepared;
use crate::store::Planner;

/// Plans change `i` of a delta for location `loc`: its templates (moved out of `op`: the face
/// vectors and the `prepared` fingerprints, in the order of the user's fingers) and its catalog
/// change. A change that names what does not exist refuses the delta.
pub(super) fn plan_op(
    p: &mut Planner<'_>,
    loc: &str,
    i: usize,
    op: &mut Op,
    prepared: Vec<Prepared>,
) -> Result<()> {
    let at = |m: String| {
        refused(Refusal::Invalid {
            path: format!("changes[{i}]"),
            message: m,
        })
    };
    match op {
        Op::UpsertUser(u, faces, _) => {
            for t in p.face_templates(loc, &u.id) {
                if !faces.iter().any(|(f, _)| *f == t) {
                    p.remove_face(loc, &u.id, &t);
                }
            }
            for (f, v) in std::mem::take(faces) {
                p.put_face(loc, &u.id, &f, v);
            }
            for t in p.finger_templates(loc, &u.id) {
                if !u.fingers.iter().any(|f| f.id == t) {
                    p.remove_finger(loc, &u.id, &t);
                }
            }
            for (f, t) in u.fingers.iter().zip(prepared) {
                p.put_finger(loc, &u.id, &f.id, t, f.data.clone());
            }
            p.apply_catalog(CatalogOp::put_user(loc.to_string(), u.clone()));
        }
        Op::DeleteUser(id) => {
            let exists = p
                .catalog()
                .location(loc)
                .is_some_and(|s| s.users.contains_key(id));
            if !exists {
                return Err(at(format!("delete_user {id:?}: no such user at {loc}")));
            }
            p.remove_user_faces(loc, id);
            p.remove_user_fingers(loc, id);
            p.apply_catalog(CatalogOp::DeleteUser {
                location: loc.to_string(),
                id: id.clone(),
            });
        }
        Op::UpsertSchedule(s) => p.apply_catalog(CatalogOp::PutSchedule {
            location: loc.to_string(),
            schedule: s.clone(),
        }),
        Op::DeleteSchedule(id) => {
            if !p
                .catalog()
                .location(loc)
                .is_some_and(|s| s.schedules.contains_key(id))
            {
                return Err(at(format!(
                    "delete_schedule {id:?}: no such schedule at {loc}"
                )));
            }
            p.apply_catalog(CatalogOp::DeleteSchedule {
                location: loc.to_string(),
                id: id.clone(),
            });
        }
        Op::UpsertDoor(x) => p.apply_catalog(CatalogOp::put_door(loc.to_string(), x.clone())),
        Op::DeleteDoor(id) => {
            if !p
                .catalog()
                .location(loc)
                .is_some_and(|s| s.doors.contains_key(id))
            {
                return Err(at(format!("delete_door {id:?}: no such door at {loc}")));
            }
            p.apply_catalog(CatalogOp::DeleteDoor {
                location: loc.to_string(),
                id: id.clone(),
            });
        }
    }
    Ok(())
}
