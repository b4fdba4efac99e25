#!/bin/sh
# A door across a day (and a night, and a holiday), with `edgeid decide`: a store is created, the
# platform's delta testdata/access/door-day.json is applied (format edgeid.delta/2: schedules in
# Europe/Amsterdam, doors with modes, anti-passback and a punch, four people), and people present
# cards, faces and codes. Each line is the terminal's answer; at the end the platform reads the
# event journal and acknowledges it.
#
#   EDGEID=target/release/edgeid sh scripts/demo-door.sh
#
# Run by cli/tests/decide.rs, which checks every answer, so it cannot rot.
set -eu
EDGEID=${EDGEID:-edgeid}
HERE=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
STORE=$WORK/store
printf '[1, 0, 0, 0, 0, 0, 0, 0]\n' > "$WORK/ann-face.json"
printf '[0.05, 0.99, 0.1, 0, 0, 0, 0, 0]\n' > "$WORK/cem-face.json"

"$EDGEID" init --store "$STORE" --model demo --dim 8 > /dev/null
"$EDGEID" sync apply --store "$STORE" "$HERE/testdata/access/door-day.json" > /dev/null

# step TITLE ARGS...: one decision at hq-amsterdam (exit status 1 = denied, not an error here).
step() {
    title=$1
    shift
    printf '%s\n' "== $title"
    "$EDGEID" decide --store "$STORE" --location hq-amsterdam "$@" || true
}

step "Tue 1 Dec 08:00, Ann badges at the front door" --door front --at 2026-12-01T08:00:00+01:00 --card csn:0A01
step "08:01, Ann badges again: a duplicate check-in" --door front --at 2026-12-01T08:01:00+01:00 --card csn:0A01
step "08:05, Ben's card: his contract ended on 1 October" --door front --at 2026-12-01T08:05:00+01:00 --card csn:0B02
step "09:00, Cem at the lab (card+face) with his own face" --door lab --at 2026-12-01T09:00:00+01:00 --card csn:0C03 --face "$WORK/cem-face.json" --face-threshold 0.8
step "09:01, Cem's card with Ann's face" --door lab --at 2026-12-01T09:01:00+01:00 --card csn:0C03 --face "$WORK/ann-face.json" --face-threshold 0.8
step "10:00, Ann enters the vault" --door vault-in --at 2026-12-01T10:00:00+01:00 --card csn:0A01
step "10:02, Ann's card enters the vault again (passed back)" --door vault-in --at 2026-12-01T10:02:00+01:00 --card csn:0A01
step "10:30, Ann leaves the vault" --door vault-out --at 2026-12-01T10:30:00+01:00 --card csn:0A01
step "12:00, Ann's face alone at the front door" --door front --at 2026-12-01T12:00:00+01:00 --face "$WORK/ann-face.json" --face-threshold 0.8
step "20:30, Ann comes back in the evening" --door front --at 2026-12-01T20:30:00+01:00 --card csn:0A01
step "Fri 25 Dec 09:00 (Christmas), Ann" --door front --at 2026-12-25T09:00:00+01:00 --card csn:0A01
step "Sun 25 Oct 02:30 CEST (summer time), Dia on the night shift" --door front --at 2026-10-25T02:30:00+02:00 --card csn:0D04
step "Sun 25 Oct 02:30 CET (the same wall time an hour later), Dia" --door front --at 2026-10-25T02:30:00+01:00 --card csn:0D04
step "Sun 25 Oct 06:30 CET, Dia after her shift" --door front --at 2026-10-25T06:30:00+01:00 --card csn:0D04
step "Wed 2 Dec 08:00, Ann types her duress code" --door front --at 2026-12-02T08:00:00+01:00 --code 7531

# The platform comes back: it reads the journal (every decision above, and the applied delta),
# acknowledges what it read, and the next read after that cursor is empty.
printf '%s\n' "== The platform reads the journal"
"$EDGEID" events read --store "$STORE" > "$WORK/events.txt"
cat "$WORK/events.txt"
cursor=$(sed -n 's/^cursor \([0-9][0-9]*\)$/\1/p' "$WORK/events.txt")
printf '%s\n' "== The platform acknowledges up to $cursor"
"$EDGEID" events ack --store "$STORE" "$cursor"
"$EDGEID" events read --store "$STORE" --after "$cursor"
