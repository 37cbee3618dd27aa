"""`sms-notify sandbox`: every registered gateway's API on one local port, for tests and trials.

A package of its own, beside the core (docs/design.md, Decision 9): the server
(routing, inbox, faults, admin) in `server`, what the gateways share in `state`, the base of a
simulated gateway in `simulator` (`soap` for ASP.NET ASMX services), and the built-in gateways'
simulators in `simulators`. The core names no gateway: simulators come only through the
``sms_notify_register_simulators`` hook, so a third-party plugin brings its own (docs/sandbox.md).
"""

from .server import build_app, collect_simulators, sandbox, sandbox_arguments
from .simulator import Answered, Call, Simulator, form_call, json_answer, json_call, plain
from .state import (
    PASSWORD, TOKEN, USER, BadFault, Fault, Message, State, parse_fault, parse_fault_flag, phone,
    routable,
)

__all__ = [
    "PASSWORD", "TOKEN", "USER", "Answered", "BadFault", "Call", "Fault", "Message", "Simulator",
    "State", "build_app", "collect_simulators", "form_call", "json_answer", "json_call",
    "parse_fault", "parse_fault_flag", "phone", "plain", "routable", "sandbox",
    "sandbox_arguments",
]
