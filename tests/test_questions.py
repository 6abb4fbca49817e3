"""The question machine on its own: what each answer and silence decide, and a question
set aside by pain coming back with the time it had left."""

from __future__ import annotations

from voicecoach.core import questions
from voicecoach.core.commands import Command
from voicecoach.core.questions import Decision, Questions


def asked(question: questions.Question, now: float = 0.0) -> Questions:
    book = Questions()
    book.ask(question, now)
    return book


def test_answers_decide_by_the_table():
    stop = asked(questions.stop_question())
    assert stop.decide(Command("yes"), True) == Decision(questions.END, "Ending the session.")
    assert stop.decide(Command("no"), True) == Decision(questions.CARRY_ON, "Carrying on.")
    assert stop.decide(Command("skip"), True).outcome == questions.AGAIN
    pain = asked(questions.pain_question(in_exercise=True))
    assert pain.decide(Command("skip"), True).outcome == questions.SKIP_EXERCISE
    # Between exercises there is nothing to skip: the question is asked again.
    assert pain.decide(Command("skip"), False) == Decision(questions.AGAIN, pain.open.prompt)
    checkin = asked(questions.checkin("before"))
    assert checkin.decide(Command("number", 4), True) == Decision(questions.SCORE, "Thanks. 4 out of 10.")
    assert checkin.decide(Command("yes"), True).outcome == questions.AGAIN
    assert checkin.decide(Command("help"), True).reply == checkin.open.help


def test_silence_and_closed_input():
    resume = asked(questions.resume_offer("Lifts"), now=5.0)
    assert resume.open.timeout_at == 25.0
    assert resume.silence() == Decision(questions.RESUME, "I'll take that as a yes.")
    assert resume.input_closed() is None  # it times out on its own
    stop = asked(questions.stop_question())
    assert stop.input_closed() == Command("yes")


def test_pain_sets_a_question_aside_with_the_time_it_had_left():
    book = asked(questions.checkin("before"), now=0.0)
    assert book.decide(Command("pain"), True).outcome == questions.PAIN
    book.set_aside(now=15.0)
    assert book.open is None
    again = book.ask(book.close(), now=30.0)
    assert again.kind == "checkin_before" and again.timeout_at == 35.0
    stop = asked(questions.stop_question())
    stop.set_aside(now=1.0)
    assert stop.close() is None  # the pain question offers to end anyway
