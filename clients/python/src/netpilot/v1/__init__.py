"""Generated from proto/netpilot/v1 by clients/generate.sh. Do not edit."""
