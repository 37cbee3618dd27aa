"""The Alertmanager receiver: `sms-notify serve` and `sms-notify demo`.

It translates and holds no sending logic: a webhook payload (payload.py) becomes one rendered
text (templates.py) and one outbox job per (route, recipient) (server.py); the core's outbox and
dispatcher deliver them. See docs/alertmanager.md.
"""
