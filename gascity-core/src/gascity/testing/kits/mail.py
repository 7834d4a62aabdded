"""The mail store conformance kit."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from ...errors import MailNotFound
from ...plugins import Hooks
from ...types import MailDraft, Message

__all__ = ["MailStoreKit"]


class MailStoreKit:
    """Subclass, and provide a ``mail_hooks`` fixture yielding a :class:`Hooks` over a
    fresh, empty store."""

    lists_archived = True
    """``mail_inbox(include_archived=True)`` lists archived mail (the reference's
    exec protocol has no such listing)."""

    many_recipients = 1200
    """Mailboxes ``mail_counts`` is asked for at once (a script store, one process a
    mailbox, may ask for fewer)."""

    @pytest.fixture
    def mail_hooks(self) -> Iterator[Hooks]:
        raise NotImplementedError("subclass the kit and provide a mail_hooks fixture")

    def send(self, hooks: Hooks, sender: str = "mayor", recipient: str = "worker",
             subject: str = "hello", body: str = "body") -> Message:
        return hooks.send_mail(MailDraft(sender, recipient, subject, body))

    def test_send_starts_a_thread(self, mail_hooks: Hooks) -> None:
        msg = self.send(mail_hooks, subject="Task", body="do it")
        assert isinstance(msg.id, str) and msg.id, "ids are non-empty strings"
        assert msg.thread_id == msg.id
        assert (msg.sender, msg.recipient, msg.subject, msg.body) == (
            "mayor", "worker", "Task", "do it")
        assert msg.created_at.tzinfo is not None
        assert not msg.read and not msg.archived
        assert msg.reply_to is None

    def test_empty_subject_takes_first_body_line(self, mail_hooks: Hooks) -> None:
        msg = self.send(mail_hooks, subject="", body="first line\nsecond line")
        assert msg.subject == "first line"

    def test_unicode_and_long_bodies(self, mail_hooks: Hooks) -> None:
        body = "ünïcødé ✉ 'quotes' \"double\" ; DROP TABLE mail;\n" * 500
        msg = self.send(mail_hooks, body=body)
        fetched = mail_hooks.get_mail(msg.id)
        assert fetched is not None
        assert fetched.body == body

    def test_inbox_is_per_recipient_and_ordered(self, mail_hooks: Hooks) -> None:
        a = self.send(mail_hooks, recipient="alice", subject="1")
        self.send(mail_hooks, recipient="bob", subject="x")
        b = self.send(mail_hooks, recipient="alice", subject="2")
        assert [m.id for m in mail_hooks.mail_inbox("alice")] == [a.id, b.id]
        assert mail_hooks.mail_inbox("nobody") == []
        assert [m.id for m in mail_hooks.mail_inbox("alice", limit=1)] == [a.id]

    def test_read_marks_once_and_get_does_not(self, mail_hooks: Hooks) -> None:
        msg = self.send(mail_hooks)
        peeked = mail_hooks.get_mail(msg.id)
        assert peeked is not None and not peeked.read
        first = mail_hooks.read_mail(msg.id)
        assert first.read and first.read_at is not None
        again = mail_hooks.read_mail(msg.id)
        assert again.read_at == first.read_at
        unread = mail_hooks.mail_inbox("worker", include_read=False)
        assert msg.id not in [m.id for m in unread]
        mail_hooks.mark_unread(msg.id)
        assert msg.id in [m.id for m in mail_hooks.mail_inbox("worker", include_read=False)]

    @pytest.mark.parametrize("missing", ["987654321", "no-such-id"])
    def test_missing_message(self, mail_hooks: Hooks, missing: str) -> None:
        assert mail_hooks.get_mail(missing) is None
        with pytest.raises(MailNotFound):
            mail_hooks.read_mail(missing)
        with pytest.raises(MailNotFound):
            mail_hooks.archive_mail(missing)
        with pytest.raises(MailNotFound):
            mail_hooks.reply_mail(missing, "x", "y")
        with pytest.raises(MailNotFound):
            mail_hooks.delete_mail(missing)

    def test_archive_once(self, mail_hooks: Hooks) -> None:
        msg = self.send(mail_hooks)
        assert mail_hooks.archive_mail(msg.id) is True
        assert mail_hooks.archive_mail(msg.id) is False
        assert mail_hooks.mail_inbox("worker") == []
        if not self.lists_archived:
            return
        archived = mail_hooks.mail_inbox("worker", include_archived=True)
        assert [m.id for m in archived] == [msg.id]
        assert archived[0].archived

    def test_reply_goes_to_sender_in_thread(self, mail_hooks: Hooks) -> None:
        root = self.send(mail_hooks, sender="mayor", recipient="worker", subject="Plan")
        reply = mail_hooks.reply_mail(root.id, "worker", "ack")
        assert reply.recipient == "mayor"
        assert reply.sender == "worker"
        assert reply.thread_id == root.id
        assert reply.reply_to == root.id
        assert reply.subject == "Re: Plan"
        again = mail_hooks.reply_mail(reply.id, "mayor", "thanks")
        assert again.subject == "Re: Plan"
        assert again.recipient == "worker"
        custom = mail_hooks.reply_mail(root.id, "worker", "x", subject="Other")
        assert custom.subject == "Other"
        thread = mail_hooks.mail_thread(root.id)
        assert [m.id for m in thread] == [root.id, reply.id, again.id, custom.id]

    def test_count_open_and_unread(self, mail_hooks: Hooks) -> None:
        msgs = [self.send(mail_hooks, recipient="carol") for _ in range(4)]
        mail_hooks.read_mail(msgs[0].id)
        mail_hooks.archive_mail(msgs[1].id)
        count = mail_hooks.mail_count("carol")
        assert (count.open, count.unread) == (3, 2)
        empty = mail_hooks.mail_count("nobody")
        assert (empty.open, empty.unread) == (0, 0)

    def test_counts_of_many_recipients(self, mail_hooks: Hooks) -> None:
        # /v0/status asks for every agent's counts at once (the store's mail_counts
        # where it has one): the same answer as one mail_count each, in the order
        # asked, zeros for an empty mailbox, past SQLite's 999 bound values.
        for i, name in enumerate(["erin", "frank", "erin", "gina"]):
            msg = self.send(mail_hooks, recipient=name, subject=str(i))
            if i == 0:
                mail_hooks.read_mail(msg.id)
        mail_hooks.archive_mail(self.send(mail_hooks, recipient="gina").id)
        names = [f"idle-{i}" for i in range(self.many_recipients)]
        names += ["gina", "erin", "frank", "nobody"]
        counts = mail_hooks.mail_counts([*names, "erin"])
        assert list(counts) == names
        assert counts == {name: mail_hooks.mail_count(name) for name in names}
        assert (counts["erin"].open, counts["erin"].unread) == (2, 1)
        assert (counts["gina"].open, counts["gina"].unread) == (1, 1)
        assert (counts["idle-7"].open, counts["idle-7"].unread) == (0, 0)
        assert mail_hooks.mail_counts([]) == {}

    def test_mark_read_delete_and_check(self, mail_hooks: Hooks) -> None:
        # gc mail mark-read / delete / check: the store's own hooks where it has them
        # (the reference's exec ops), else read, archive and the unread inbox.
        msgs = [self.send(mail_hooks, recipient="dave", subject=str(i)) for i in range(3)]
        assert [m.id for m in mail_hooks.mail_check("dave")] == [m.id for m in msgs]
        mail_hooks.mark_read(msgs[0].id)
        fetched = mail_hooks.get_mail(msgs[0].id)
        assert fetched is not None and fetched.read
        assert mail_hooks.delete_mail(msgs[1].id) is True
        assert mail_hooks.delete_mail(msgs[1].id) is False
        assert [m.id for m in mail_hooks.mail_check("dave")] == [msgs[2].id]
        assert mail_hooks.mail_check("dave") == mail_hooks.mail_check("dave"), "check reads none"
        assert [m.id for m in mail_hooks.mail_inbox("dave")] == [msgs[0].id, msgs[2].id]
        with pytest.raises(MailNotFound):
            mail_hooks.mark_read("987654321")

    def test_concurrent_senders(self, mail_hooks: Hooks) -> None:
        ids: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def sender(n: int) -> None:
            try:
                for i in range(10):
                    msg = self.send(mail_hooks, sender=f"s{n}", recipient=f"r{n % 4}",
                                    subject=f"{n}-{i}")
                    with lock:
                        ids.append(msg.id)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(set(ids)) == 160
        for r in range(4):
            assert mail_hooks.mail_count(f"r{r}").open == 40

    def test_racing_archivers_exactly_one_wins(self, mail_hooks: Hooks) -> None:
        msg = self.send(mail_hooks)
        results: list[bool] = []
        barrier = threading.Barrier(8)
        lock = threading.Lock()

        def archiver() -> None:
            barrier.wait()
            won = mail_hooks.archive_mail(msg.id)
            with lock:
                results.append(won)

        threads = [threading.Thread(target=archiver) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(results) == [False] * 7 + [True]
