"""sms-notify: SMS alerting for monitoring systems, through a pluggy core and provider plugins."""

from .hookspecs import hookimpl

__all__ = ["hookimpl"]
__version__ = "0.1.0"
