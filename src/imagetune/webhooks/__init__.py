"""Webhooks: signed, retried, SSRF-safe calls to a URL the client names when its job
changes state.

A library like the engine: nothing here reads settings. ``events`` (what is sent when),
``addresses`` (the address rule and URL checks), ``signing`` (Standard Webhooks v1),
``secrets`` (each user's signing secret), ``outbox`` (the messages, written in the
transaction of the job's state change), ``delivery`` (one HTTP attempt and what follows
from it), ``courier`` (delivering one message: lease, sign, send, record), ``fleet``
(the Procrastinate task that carries deliveries on PostgreSQL).
"""
