"""The schema, as an ordered list of sqlite-utils migrations. Never edit an applied one: add another."""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("backpain")


@migrations()
def m001_core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE patients (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL UNIQUE,      -- Telegram user id
            chat_id INTEGER NOT NULL UNIQUE,      -- private chat with the bot
            first_name TEXT NOT NULL DEFAULT '',
            timezone TEXT NOT NULL DEFAULT 'UTC',
            checkin_time TEXT,                    -- local 'HH:MM'
            quiet_from TEXT, quiet_to TEXT,       -- local 'HH:MM'
            sitting_days TEXT NOT NULL DEFAULT '',-- 'mon,tue,...'
            sitting_from TEXT, sitting_to TEXT,
            sitting_every INTEGER NOT NULL DEFAULT 30,
            status TEXT NOT NULL DEFAULT 'onboarding',  -- onboarding|active|paused|hold|inactive
            inactive_reason TEXT,
            start_date TEXT,                      -- local date the course started
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            patient_id INTEGER REFERENCES patients(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            due_at TEXT NOT NULL,
            expires_at TEXT,
            dedupe_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL DEFAULT 'pending',   -- pending|sending|sent|expired|dropped|failed|cancelled
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT,
            last_error TEXT,
            claimed_at TEXT,
            sent_at TEXT,
            telegram_message_id INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE INDEX outbox_due ON outbox(status, due_at);
        CREATE INDEX outbox_patient ON outbox(patient_id, kind);
        CREATE TABLE checkins (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            local_date TEXT NOT NULL,
            pain INTEGER CHECK (pain BETWEEN 0 AND 10),  -- NULL: the day was missed
            status TEXT NOT NULL,                 -- answered|missed
            answered_at TEXT,
            outbox_id INTEGER,
            UNIQUE (patient_id, local_date)
        );
        CREATE TABLE awaiting (
            patient_id INTEGER PRIMARY KEY REFERENCES patients(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                   -- what a typed answer would answer
            ref TEXT NOT NULL,                    -- e.g. the outbox id of the question
            asked_at TEXT NOT NULL
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            patient_id INTEGER,                   -- kept as a plain number: the log outlives rows
            kind TEXT NOT NULL,
            data TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_patient ON events(patient_id, kind);
        """
    )


@migrations()
def m002_sitting(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE sitting_breaks (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            outbox_id INTEGER NOT NULL UNIQUE,    -- one answer per nudge
            local_date TEXT NOT NULL,
            action TEXT NOT NULL,                 -- done|snooze|off
            at TEXT NOT NULL
        );
        CREATE TABLE sitting_off (
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            local_date TEXT NOT NULL,
            PRIMARY KEY (patient_id, local_date)
        );
        """
    )


@migrations()
def m003_course(db: Database) -> None:
    db.executescript(
        """
        ALTER TABLE patients ADD COLUMN course_days TEXT NOT NULL DEFAULT 'mon,wed,fri';
        ALTER TABLE patients ADD COLUMN course_time TEXT NOT NULL DEFAULT '18:00';
        ALTER TABLE patients ADD COLUMN course_start TEXT;  -- local date week 1 began (cohort's or own)
        ALTER TABLE patients ADD COLUMN course_state TEXT NOT NULL DEFAULT 'active';
            -- active|maintenance (after week 12, weekly check-in)|stopped
        CREATE TABLE lessons_sent (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            lesson_id TEXT NOT NULL,
            outbox_id INTEGER,
            sent_at TEXT NOT NULL,
            feedback TEXT,                        -- helpful|not_for_me
            check_answer INTEGER,                 -- 1 true / 0 false, as answered
            UNIQUE (patient_id, lesson_id)
        );
        """
    )


@migrations()
def m004_onboarding(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE onboarding (
            user_id INTEGER PRIMARY KEY,          -- Telegram user id: before consent, no patient row
            chat_id INTEGER NOT NULL,
            patient_id INTEGER REFERENCES patients(id) ON DELETE CASCADE,  -- set on agreement
            step TEXT NOT NULL,                   -- see bot.onboarding_rules.STEPS
            data TEXT NOT NULL DEFAULT '{}',      -- activities chosen, waiting for their doses
            updated_at TEXT NOT NULL
        );
        CREATE TABLE consents (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                   -- health_data
            version INTEGER NOT NULL,
            text_hash TEXT NOT NULL,              -- sha256 of the exact text agreed to
            given_at TEXT NOT NULL,
            withdrawn_at TEXT
        );
        CREATE INDEX consents_patient ON consents(patient_id, kind);
        CREATE TABLE activities (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            name TEXT NOT NULL,                   -- as the person chose or typed it
            dose_minutes INTEGER NOT NULL CHECK (dose_minutes > 0),
            paused_until TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (patient_id, name)
        );
        """
    )


@migrations()
def m005_sessions(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            activity_id INTEGER NOT NULL REFERENCES activities(id) ON DELETE CASCADE,
            dose_minutes INTEGER NOT NULL,        -- the dose this session was done at
            logged INTEGER NOT NULL DEFAULT 0,    -- 1: reported afterwards, not started live
            started_at TEXT NOT NULL,
            ended_at TEXT,
            before INTEGER CHECK (before BETWEEN 0 AND 10),
            before_source TEXT,                   -- asked|checkin
            after INTEGER CHECK (after BETWEEN 0 AND 10),
            settled INTEGER CHECK (settled IN (0, 1)),
            next_day INTEGER CHECK (next_day BETWEEN 0 AND 10),
            stage TEXT NOT NULL,                  -- before|doing|after|waiting|decided|incomplete|cancelled
            verdict TEXT,                         -- keep|progress|adapt|pause
            findings TEXT,                        -- JSON list
            partial INTEGER,
            next_dose INTEGER,
            pause_days INTEGER,
            thresholds TEXT,                      -- JSON: the thresholds the decision used
            rule_version INTEGER,
            decided_at TEXT,
            created_at TEXT NOT NULL
        );
        CREATE INDEX sessions_patient ON sessions(patient_id, stage);
        CREATE INDEX sessions_activity ON sessions(activity_id, decided_at);
        ALTER TABLE patients ADD COLUMN paused_from TEXT;  -- /pause: prompts stopped at
        """
    )


@migrations()
def m006_caregivers(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE invites (
            id INTEGER PRIMARY KEY,
            code_hash TEXT NOT NULL UNIQUE,       -- sha256 of the code; the code itself is never kept
            kind TEXT NOT NULL,                   -- caregiver (clinician, cohort: later)
            patient_id INTEGER REFERENCES patients(id) ON DELETE CASCADE,
            scope TEXT NOT NULL DEFAULT 'summary',-- caregiver: summary | summary_alerts
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            claimed_by INTEGER,                   -- Telegram user who opened it first
            used_at TEXT,                         -- accepted: single use
            revoked_at TEXT
        );
        CREATE TABLE invite_failures (
            user_id INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX invite_failures_user ON invite_failures(user_id, at);
        CREATE TABLE caregivers (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,
            chat_id INTEGER NOT NULL,
            first_name TEXT NOT NULL DEFAULT '',
            timezone TEXT NOT NULL,
            alerts INTEGER NOT NULL DEFAULT 0,    -- also receives the red-flag alert
            invite_id INTEGER,
            terms_hash TEXT NOT NULL,             -- sha256 of the text the caregiver accepted
            linked_at TEXT NOT NULL,
            ended_at TEXT,                        -- revoked by the patient or stopped by the caregiver
            ended_by TEXT
        );
        CREATE INDEX caregivers_patient ON caregivers(patient_id);
        CREATE INDEX caregivers_user ON caregivers(user_id);
        ALTER TABLE patients ADD COLUMN summary_day TEXT NOT NULL DEFAULT 'sun';
        ALTER TABLE patients ADD COLUMN summary_time TEXT NOT NULL DEFAULT '18:00';
        """
    )


@migrations()
def m007_clinics(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE clinics (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            timezone TEXT NOT NULL,               -- for the Monday digest
            created_at TEXT NOT NULL
        );
        CREATE TABLE clinicians (
            id INTEGER PRIMARY KEY,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,             -- Telegram user id
            chat_id INTEGER NOT NULL,
            first_name TEXT NOT NULL DEFAULT '',
            invite_id INTEGER,
            joined_at TEXT NOT NULL,
            removed_at TEXT                       -- access ends at once
        );
        CREATE INDEX clinicians_user ON clinicians(user_id);
        CREATE INDEX clinicians_clinic ON clinicians(clinic_id);
        CREATE TABLE cohorts (
            id INTEGER PRIMARY KEY,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            start_date TEXT,                      -- fixed: week 1 begins then; NULL: rolling
            thresholds TEXT NOT NULL DEFAULT '{}',-- pacing thresholds that differ from the defaults
            emergency_text TEXT,                  -- shown to its patients; NULL: the default
            created_by INTEGER,                   -- clinicians.id
            created_at TEXT NOT NULL
        );
        CREATE INDEX cohorts_clinic ON cohorts(clinic_id);
        CREATE TABLE cohort_offers (
            id INTEGER PRIMARY KEY,               -- someone opened a cohort's link: what they saw
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,
            terms_hash TEXT NOT NULL,             -- sha256 of the exact text shown
            created_at TEXT NOT NULL,
            accepted_at TEXT,                     -- joins when their set-up is complete
            membership_id INTEGER
        );
        CREATE INDEX cohort_offers_user ON cohort_offers(user_id);
        CREATE TABLE memberships (
            id INTEGER PRIMARY KEY,
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            consent_id INTEGER,                   -- consents row, kind clinic_sharing
            joined_at TEXT NOT NULL,
            left_at TEXT                          -- /leave: the clinic sees nothing more
        );
        CREATE INDEX memberships_patient ON memberships(patient_id);
        CREATE INDEX memberships_cohort ON memberships(cohort_id);
        ALTER TABLE invites ADD COLUMN clinic_id INTEGER REFERENCES clinics(id) ON DELETE CASCADE;
        ALTER TABLE invites ADD COLUMN cohort_id INTEGER REFERENCES cohorts(id) ON DELETE CASCADE;
        """
    )


@migrations()
def m008_perf_indexes(db: Database) -> None:
    # outbox_patient_due: the planner reads the keys of a batch's rows inside its window, by
    # patient and time, from the index alone (jobs/plan.py, outbox.keys_due_between).
    # outbox_waiting: rows waiting for quiet hours to end or for a retry, so the next due time is
    # found without reading every pending row (jobs/dispatch.next_due; the simulator asks often).
    # sessions_open: open sessions by start, read at every plan tick (sessions.decide_overdue),
    # without reading every session ever decided.
    # planner_marks: where the plan tick's look at past check-ins starts (record_missed_days), so
    # it does not read the whole history at every tick.
    db.executescript(
        """
        CREATE INDEX outbox_patient_due ON outbox(patient_id, due_at, dedupe_key);
        CREATE INDEX outbox_waiting ON outbox(next_attempt_at)
            WHERE status = 'pending' AND next_attempt_at IS NOT NULL;
        CREATE INDEX sessions_open ON sessions(stage, started_at);
        CREATE TABLE planner_marks (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """
    )


@migrations()
def m009_liveness(db: Database) -> None:
    # When each tick (dispatch, plan) last ran to the end: `backpain-bot health` reads it, so a
    # process that is up but stuck is reported unhealthy (storage/liveness.py).
    db.executescript(
        """
        CREATE TABLE liveness (
            name TEXT PRIMARY KEY,
            at TEXT NOT NULL
        );
        """
    )


@migrations()
def m010_inbox(db: Database) -> None:
    # Every update is a row here before Telegram is told it arrived (the next getUpdates offset,
    # or the webhook's 200): storage/inbox.py, bot/inbound.py. UNIQUE(update_id, digest): the
    # same update delivered again is recognised; a reused update id with other content is new.
    # inbox_open: rows still to handle at start-up; outbox_sending: the sender's lease reaper.
    # AUTOINCREMENT: handled rows are deleted after a week, and a reused id would find its reply
    # key (`reply:i<id>:n`) taken by an old reply and stay unanswered.
    db.executescript(
        """
        CREATE TABLE inbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: replies are keyed by it
            update_id INTEGER NOT NULL,
            chat_id INTEGER,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            digest TEXT NOT NULL,
            received_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'new',
            handled_at TEXT,
            error TEXT,
            UNIQUE (update_id, digest)
        );
        CREATE INDEX inbox_open ON inbox(id) WHERE status = 'new';
        CREATE INDEX inbox_handled ON inbox(handled_at) WHERE handled_at IS NOT NULL;
        CREATE INDEX outbox_sending ON outbox(claimed_at) WHERE status = 'sending';
        """
    )


@migrations()
def m011_warning_sign_lessons_again(db: Database) -> None:
    # The course now teaches the warning signs in week 1 (w01-03: get help now; w01-04: see a
    # doctor soon, /urgent and typing a sign in your own words). Someone who had already passed
    # those places received the old lessons under the same ids, so the planner would never send
    # the new ones: each such active person gets both once, as re-reads (no buttons; their
    # answers to the old lessons stay as they were). Due at their last lesson's time, so the next
    # dispatch sends them, outside their quiet hours.
    db.execute(
        """
        INSERT INTO outbox (chat_id, patient_id, kind, due_at, expires_at, dedupe_key, payload,
                            created_at)
        SELECT p.chat_id, p.id, 'lesson', max(s.sent_at), NULL,
               'lesson_again:' || p.id || ':' || l.id,
               json_object('lesson_id', l.id, 'again', json('true')), max(s.sent_at)
        FROM patients p
        JOIN lessons_sent s ON s.patient_id = p.id
        JOIN (SELECT 'w01-03' AS id UNION ALL SELECT 'w01-04') l
        WHERE p.status = 'active' AND s.lesson_id >= 'w01-03'
        GROUP BY p.id, l.id
        ON CONFLICT (dedupe_key) DO NOTHING
        """
    )


@migrations()
def m012_questions(db: Database) -> None:
    # Issue 15: every question the bot asks is a record, and several may be open at once (an
    # activity's "pain before" and today's check-in). The one-row-per-person `awaiting` table
    # becomes one row per question: its kind, subject (the local day of a check-in, a session
    # id), when it was asked and expires, its status, the outbox row that asked it, and the
    # message that answered it (an edit of that message within the correction window changes
    # the answer). The name stays, so /mydata, /delete and /withdraw find it as before.
    db.executescript(
        """
        CREATE TABLE awaiting_new (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                   -- bot.rules.kinds.QUESTIONS
            ref TEXT NOT NULL,                    -- the outbox id, session id, or safety JSON
            subject TEXT,                         -- a check-in's local date, a session's id
            asked_at TEXT NOT NULL,
            expires_at TEXT,                      -- NULL: open until answered or superseded
            status TEXT NOT NULL DEFAULT 'open',  -- open|answered|expired|superseded
            outbox_id INTEGER,
            answered_at TEXT,
            answer_message_id INTEGER             -- the typed message that answered it
        );
        INSERT INTO awaiting_new (patient_id, kind, ref, subject, asked_at, outbox_id)
        SELECT a.patient_id, a.kind, a.ref,
               CASE WHEN a.kind = 'checkin' THEN
                        (SELECT json_extract(o.payload, '$.local_date') FROM outbox o
                         WHERE o.id = CAST(a.ref AS INTEGER))
                    WHEN a.kind IN ('session_before', 'session_after') THEN a.ref END,
               a.asked_at,
               CASE WHEN a.kind IN ('checkin', 'next_day', 'settle')
                    THEN CAST(a.ref AS INTEGER) END
        FROM awaiting a;
        DROP TABLE awaiting;
        ALTER TABLE awaiting_new RENAME TO awaiting;
        CREATE INDEX awaiting_patient ON awaiting(patient_id, status);
        """
    )


@migrations()
def m013_settings(db: Database) -> None:
    # /settings (issue 15): an activity can be removed (its sessions and history kept, so the row
    # stays, marked) or paused by the person until they unpause it; the check-in can be daily,
    # weekdays only or off, and the weekly summary off (caregivers' copies too).
    db.executescript(
        """
        ALTER TABLE activities ADD COLUMN removed_at TEXT;  -- removed in /settings; NULL: current
        ALTER TABLE activities ADD COLUMN stopped INTEGER NOT NULL DEFAULT 0;  -- paused by the person
        ALTER TABLE patients ADD COLUMN checkin_mode TEXT NOT NULL DEFAULT 'daily';  -- daily|weekdays|off
        ALTER TABLE patients ADD COLUMN summary_off INTEGER NOT NULL DEFAULT 0;
        """
    )


@migrations()
def m014_pause_and_nudges(db: Database) -> None:
    # /pause for a day or a week ends by itself (jobs/prompts.py): the moment it ends, UTC. NULL
    # while not paused, or paused until /resume. patients_paused_until: the plan tick finds the pauses
    # that are due to end without reading every patient.
    db.executescript(
        """
        ALTER TABLE patients ADD COLUMN paused_until TEXT;
        CREATE INDEX patients_paused_until ON patients(paused_until)
            WHERE paused_until IS NOT NULL;
        """
    )


@migrations()
def m016_clinic_alerts(db: Database) -> None:
    # Issue 16 (who is who, alerts a clinician can act on). A membership gets the clinic's own
    # reference (record number or initials, seen only by the clinic) and a random study id for
    # research exports (existing ones backfilled here). A personal enrolment link (an invite of
    # kind `cohort_personal`) carries the reference to the membership through its offer.
    # Clinics keep their working hours (non-urgent alerts wait for them); a cohort may name its
    # responsible clinicians (JSON list of clinicians.id; NULL: every active one) and a "quiet
    # for N days" alert (NULL: off). `alert_episodes`: one row per flag episode (one alert when
    # it opens, none again until it is resolved or 14 days pass), with who acknowledged or
    # resolved it. `clinic_messages`: /message and the patient's one relayed answer, and a
    # patient's request to be contacted (the words live only in the outbox rows, scrubbed by
    # retention).
    import secrets

    db.executescript(
        """
        ALTER TABLE memberships ADD COLUMN reference TEXT;
        ALTER TABLE memberships ADD COLUMN study_id TEXT;
        ALTER TABLE invites ADD COLUMN reference TEXT;
        ALTER TABLE cohort_offers ADD COLUMN invite_id INTEGER;
        ALTER TABLE clinics ADD COLUMN work_days TEXT NOT NULL DEFAULT '0,1,2,3,4';
        ALTER TABLE clinics ADD COLUMN work_from TEXT NOT NULL DEFAULT '08:00';
        ALTER TABLE clinics ADD COLUMN work_to TEXT NOT NULL DEFAULT '18:00';
        ALTER TABLE cohorts ADD COLUMN responsible TEXT;
        ALTER TABLE cohorts ADD COLUMN quiet_days INTEGER;
        CREATE TABLE alert_episodes (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,                 -- red_flag, red_flag_soon, rise, blocked, quiet
            opened_at TEXT NOT NULL,
            state TEXT NOT NULL DEFAULT 'open', -- open, acknowledged, resolved
            notify_at TEXT NOT NULL,            -- when the clinic is told (working hours)
            recipients TEXT NOT NULL DEFAULT '[]', -- clinicians.id told of it (JSON)
            acknowledged_at TEXT,
            acknowledged_by INTEGER,            -- clinicians.id
            resolved_at TEXT,
            resolved_by INTEGER,                -- clinicians.id; NULL when not a clinician
            resolved_how TEXT                   -- clinician, seen, expired, left, answered, reachable
        );
        CREATE INDEX alert_episodes_patient ON alert_episodes(patient_id, kind);
        CREATE INDEX alert_episodes_notify ON alert_episodes(clinic_id, notify_at);
        CREATE TABLE clinic_messages (
            id INTEGER PRIMARY KEY,
            clinic_id INTEGER NOT NULL REFERENCES clinics(id) ON DELETE CASCADE,
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            clinician_id INTEGER,               -- who wrote; NULL for a patient's request
            kind TEXT NOT NULL,                 -- message, contact_request
            created_at TEXT NOT NULL,
            reply_opened_at TEXT,               -- the patient tapped "Reply"
            replied_at TEXT                     -- one answer relayed, then closed
        );
        CREATE INDEX clinic_messages_patient ON clinic_messages(patient_id);
        """
    )
    for (membership_id,) in db.execute("SELECT id FROM memberships").fetchall():
        db.execute(
            "UPDATE memberships SET study_id = ? WHERE id = ?",
            [secrets.token_hex(4).upper(), membership_id],
        )
    db.execute("CREATE UNIQUE INDEX memberships_study_id ON memberships(study_id)")


@migrations()
def m017_cohort_lifecycle(db: Database) -> None:
    # Issue 16: a cohort can be archived (its link stops, no digest, the roster stays readable);
    # cohort_log is who changed what and when (/cohort_log); clinic_confirms holds a clinician's
    # request until they confirm it with a button (a past start date, a new link, an archive).
    # memberships.own_course: someone who joined a fixed cohort after its course had ended
    # follows their own 12 weeks from their own start.
    db.executescript(
        """
        ALTER TABLE cohorts ADD COLUMN archived_at TEXT;
        ALTER TABLE memberships ADD COLUMN own_course INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE cohort_log (
            id INTEGER PRIMARY KEY,
            cohort_id INTEGER NOT NULL REFERENCES cohorts(id) ON DELETE CASCADE,
            clinician_id INTEGER,                 -- clinicians.id (a number: outlives the row)
            at TEXT NOT NULL,
            what TEXT NOT NULL,                   -- start|emergency|threshold|link|archive|...
            old TEXT,
            new TEXT
        );
        CREATE INDEX cohort_log_cohort ON cohort_log(cohort_id, at);
        CREATE TABLE clinic_confirms (
            id INTEGER PRIMARY KEY,
            clinician_id INTEGER NOT NULL REFERENCES clinicians(id) ON DELETE CASCADE,
            action TEXT NOT NULL,                 -- cohort_new|cohort_start|cohort_link|cohort_archive
            cohort_id INTEGER REFERENCES cohorts(id) ON DELETE CASCADE,
            args TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            answered_at TEXT
        );
        """
    )


@migrations()
def m018_priority(db: Database) -> None:
    # Issue 20: the fast lane takes replies and alerts queued "now" whatever their due time;
    # without this index that half of `outbox.due` read every pending row (a second at 100,000
    # patients, on every reply).
    db.executescript(
        """
        CREATE INDEX outbox_pending_kind ON outbox(kind, due_at) WHERE status = 'pending';
        """
    )


@migrations()
def m020_outcomes(db: Database) -> None:
    # Issue 17: outcome questionnaires (bot/rules/outcomes.py). A set is one instrument asked at
    # one timepoint; its answers one row per item (value NULL when skipped). Goals are the
    # person's own activities (up to three current), rated 0-10 in 'goals' sets. People set up
    # before this migration are flagged: their baseline comes with their next weekly summary.
    db.executescript(
        """
        CREATE TABLE outcome_sets (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            instrument TEXT NOT NULL,          -- 'peg' | 'grc' | 'goals'
            timepoint TEXT NOT NULL,           -- 'baseline'|'w06'|'w12'; grc: 'w01'..'w12', 'm<n>'
            asked_at TEXT NOT NULL,            -- UTC ISO
            reminded_at TEXT,                  -- the one reminder
            closed_at TEXT,
            status TEXT NOT NULL DEFAULT 'open', -- open | complete | partial | skipped | expired
            UNIQUE (patient_id, instrument, timepoint)
        );
        CREATE TABLE outcome_answers (
            id INTEGER PRIMARY KEY,
            set_id INTEGER NOT NULL REFERENCES outcome_sets(id) ON DELETE CASCADE,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            item TEXT NOT NULL,                -- 'peg_pain'|'peg_enjoyment'|'peg_activity'|'grc'|'goal:<id>'
            value INTEGER,                     -- NULL when skipped
            skipped INTEGER NOT NULL DEFAULT 0,
            answered_at TEXT NOT NULL,
            UNIQUE (set_id, item)
        );
        CREATE TABLE goals (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,         -- 1..3
            name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            removed_at TEXT
        );
        CREATE INDEX outcome_sets_open ON outcome_sets(status, asked_at) WHERE status = 'open';
        CREATE INDEX outcome_answers_patient ON outcome_answers(patient_id);
        CREATE INDEX goals_patient ON goals(patient_id);
        -- People already set up when this lands get the baseline with their next summary.
        ALTER TABLE patients ADD COLUMN outcomes_baseline_at_summary INTEGER NOT NULL DEFAULT 0;
        UPDATE patients SET outcomes_baseline_at_summary = 1 WHERE status != 'onboarding';
        """
    )


@migrations()
def m021_sent_index(db: Database) -> None:
    # Issue 20: the message caps (jobs.compose) count a person's messages sent since a moment,
    # three times per nudge composed; through outbox_patient that read every row the person
    # was ever sent (hundreds after a few weeks). A range over sent_at reads only the recent.
    db.executescript(
        """
        CREATE INDEX outbox_patient_sent ON outbox(patient_id, sent_at) WHERE status = 'sent';
        """
    )
