"""Telegram inbound: `register` wires every handler into the Application, in priority order."""

from __future__ import annotations

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from handlers import (
    activity,
    basic,
    caregiver,
    checkin,
    clinic,
    clinic_contact,
    clinic_views,
    common,
    course,
    errors,
    flare,
    onboarding,
    outcomes,
    privacy,
    safety,
    settings,
    sitting,
    urgent,
    withdraw,
)
from handlers.commands import CLINIC_COMMANDS, COMMANDS

__all__ = ["CLINIC_COMMANDS", "COMMANDS", "register"]

PRIVATE = filters.ChatType.PRIVATE


def register(app: Application) -> None:
    # Every private text, caption and command argument, edited ones too, in every state: a
    # warning sign is answered first.
    app.add_handler(
        MessageHandler(PRIVATE & (filters.TEXT | filters.CAPTION), safety.screen_message), group=-3
    )
    app.add_handler(TypeHandler(Update, basic.foreign_callback), group=-2)
    app.add_handler(MessageHandler(filters.ChatType.GROUPS, basic.group_message), group=-1)
    # Edited messages never run a command nor answer a question (an edit could turn an old
    # message into /resume): a short note, and nothing else runs. Before the withdrawal gate.
    app.add_handler(
        MessageHandler(PRIVATE & filters.UpdateType.EDITED, common.edited_message), group=-1
    )
    # Private chats only reach this one of group -1: someone who withdrew consent stops here.
    app.add_handler(TypeHandler(Update, withdraw.gate), group=-1)
    app.add_handler(CommandHandler("start", onboarding.start_command, filters=PRIVATE))
    app.add_handler(CommandHandler("help", basic.help_command, filters=PRIVATE))
    app.add_handler(CommandHandler("checkin", checkin.checkin_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(checkin.rating_button, pattern=r"^c:"))
    app.add_handler(CallbackQueryHandler(flare.flare_button, pattern=r"^fl:"))
    app.add_handler(CallbackQueryHandler(sitting.sitting_button, pattern=r"^s:"))
    app.add_handler(CommandHandler("activity", activity.activity_command, filters=PRIVATE))
    app.add_handler(CommandHandler("plan", activity.plan_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(activity.activity_button, pattern=r"^a:"))
    app.add_handler(CallbackQueryHandler(activity.session_answer_button, pattern=r"^r:"))
    app.add_handler(CallbackQueryHandler(activity.next_day_button, pattern=r"^n:"))
    app.add_handler(CommandHandler("history", activity.history_command, filters=PRIVATE))
    app.add_handler(CommandHandler("settings", settings.settings_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(settings.settings_button, pattern=r"^set:"))
    app.add_handler(CommandHandler("pause", settings.pause_command, filters=PRIVATE))
    app.add_handler(CommandHandler("resume", settings.resume_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(settings.pause_button, pattern=r"^pause:"))
    app.add_handler(CommandHandler("urgent", urgent.urgent_command, filters=PRIVATE))
    app.add_handler(CommandHandler("caregiver", caregiver.caregiver_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(caregiver.caregiver_button, pattern=r"^cg:"))
    app.add_handler(CallbackQueryHandler(caregiver.join_button, pattern=r"^cgj:"))
    app.add_handler(CallbackQueryHandler(caregiver.timezone_button, pattern=r"^cgz:"))
    app.add_handler(CommandHandler("leave", clinic.leave_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(clinic.leave_button, pattern=r"^lv:"))
    app.add_handler(CallbackQueryHandler(clinic.cohort_join_button, pattern=r"^coj:"))
    app.add_handler(CallbackQueryHandler(clinic.clinician_join_button, pattern=r"^clj:"))
    app.add_handler(CommandHandler("cohort_new", clinic.cohort_new_command, filters=PRIVATE))
    app.add_handler(CommandHandler("cohorts", clinic.cohorts_command, filters=PRIVATE))
    app.add_handler(CommandHandler("cohort", clinic.cohort_command, filters=PRIVATE))
    app.add_handler(CommandHandler("patient", clinic_views.patient_command, filters=PRIVATE))
    app.add_handler(CommandHandler("outcomes", clinic_views.outcomes_command, filters=PRIVATE))
    app.add_handler(CommandHandler("export", clinic.export_command, filters=PRIVATE))
    app.add_handler(CommandHandler("cohort_set", clinic.cohort_set_command, filters=PRIVATE))
    app.add_handler(CommandHandler("cohort_link", clinic.cohort_link_command, filters=PRIVATE))
    app.add_handler(
        CommandHandler("cohort_archive", clinic.cohort_archive_command, filters=PRIVATE)
    )
    app.add_handler(CommandHandler("cohort_log", clinic.cohort_log_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(clinic.confirm_button, pattern=r"^cc:"))
    app.add_handler(CommandHandler("message", clinic_contact.message_command, filters=PRIVATE))
    app.add_handler(CommandHandler("ref", clinic_contact.ref_command, filters=PRIVATE))
    app.add_handler(
        CommandHandler("invite_patient", clinic_contact.invite_patient_command, filters=PRIVATE)
    )
    app.add_handler(
        CommandHandler("clinic_hours", clinic_contact.clinic_hours_command, filters=PRIVATE)
    )
    app.add_handler(CommandHandler("contact", clinic_contact.contact_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(clinic_contact.alert_button, pattern=r"^al:"))
    app.add_handler(CallbackQueryHandler(clinic_contact.reply_button, pattern=r"^cm:"))
    app.add_handler(CommandHandler("mydata", privacy.mydata_command, filters=PRIVATE))
    app.add_handler(CommandHandler("delete", privacy.delete_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(privacy.delete_button, pattern=r"^del:"))
    app.add_handler(CommandHandler("withdraw", withdraw.withdraw_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(withdraw.withdraw_button, pattern=r"^w:"))
    app.add_handler(CallbackQueryHandler(urgent.urgent_button, pattern=r"^u:"))
    app.add_handler(CallbackQueryHandler(safety.confirm_button, pattern=r"^sf:"))
    app.add_handler(CommandHandler("course", course.course_command, filters=PRIVATE))
    app.add_handler(CallbackQueryHandler(course.lesson_button, pattern=r"^l:"))
    app.add_handler(CallbackQueryHandler(onboarding.onboarding_button, pattern=r"^o:"))
    app.add_handler(CallbackQueryHandler(outcomes.outcome_button, pattern=r"^oc:"))
    app.add_handler(CallbackQueryHandler(basic.stale_button))
    app.add_handler(MessageHandler(PRIVATE & filters.COMMAND, basic.unknown_command))
    app.add_handler(
        MessageHandler(PRIVATE & filters.TEXT & ~filters.UpdateType.EDITED, basic.text_message)
    )
    app.add_handler(
        MessageHandler(
            PRIVATE & filters.LOCATION & ~filters.UpdateType.EDITED, onboarding.location_message
        )
    )
    app.add_handler(
        MessageHandler(
            PRIVATE & ~filters.TEXT & ~filters.StatusUpdate.ALL & ~filters.UpdateType.EDITED,
            basic.unsupported_media,
        )
    )
    # After the command itself: any command ends a half-done /settings change (none begins one).
    app.add_handler(
        MessageHandler(
            PRIVATE & filters.COMMAND & ~filters.UpdateType.EDITED, onboarding.end_edit_on_command
        ),
        group=1,
    )
    app.add_error_handler(errors.error_handler)
