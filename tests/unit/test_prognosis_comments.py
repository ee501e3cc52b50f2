"""Prognosis comments: additions are stamped with date and author, and read back piece by piece."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sicdoc.services.conversations.prognosis import CommentEntry, addition, appended, entries

WHEN = datetime(2026, 12, 2, 19, 5, tzinfo=UTC)


def test_an_addition_follows_the_earlier_text_with_local_date_and_author():
    stored = appended("Months.", "Now weeks.", "Ada  Okafor, MD", WHEN, ZoneInfo("America/New_York"))
    assert stored == "Months.\n\n[Added 2026-12-02 14:05 EST by Ada Okafor, MD] Now weeks."
    assert appended("Months.", "  ", "Ada", WHEN) == "Months."  # nothing added, nothing stamped
    assert appended("", "First.", "Ada", WHEN) == "[Added 2026-12-02 19:05 UTC by Ada] First."


def test_an_older_form_that_sends_the_whole_text_adds_only_the_new_part():
    assert addition("Months.", "Months. Now weeks.") == "Now weeks."
    assert addition("Months.", "Now weeks.") == "Now weeks."
    assert addition("", "Now weeks.") == "Now weeks."


def test_stored_comments_split_into_the_signed_text_and_each_stamped_addition():
    stored = appended(
        appended("Months.\nMaybe less.", "Weeks.", "Ada", WHEN), "Days.\n\nSleepy.", "Ben", WHEN
    )
    assert entries(stored) == [
        CommentEntry(None, None, "Months.\nMaybe less."),
        CommentEntry("2026-12-02 19:05 UTC", "Ada", "Weeks."),
        CommentEntry("2026-12-02 19:05 UTC", "Ben", "Days.\n\nSleepy."),
    ]
    assert entries("") == []
    assert entries("Plain text [Added in the middle is not a stamp]") == [
        CommentEntry(None, None, "Plain text [Added in the middle is not a stamp]")
    ]
