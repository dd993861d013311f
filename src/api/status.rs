//! Engine errors as gRPC statuses, with rich details: `google.rpc.BadRequest` naming the
//! field for INVALID_ARGUMENT, and `google.rpc.ErrorInfo` whose `reason` is ConnMan's error
//! word (net.connman.Error.*), domain "netpilot".

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::engine::EngineError;

const DOMAIN: &str = "netpilot";

fn with_reason(code: Code, message: String, reason: &str) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, DOMAIN, std::collections::HashMap::new()),
    )
}

/// The status for an engine error. One arm per variant, no catch-all: a new variant must be
/// mapped here.
pub fn from_engine(error: EngineError) -> Status {
    let message = error.to_string();
    match error {
        EngineError::NotFound { .. } => with_reason(Code::NotFound, message, "NotFound"),
        EngineError::InvalidArgument {
            field,
            message: description,
        } => {
            let mut details = ErrorDetails::with_bad_request_violation(field, description);
            details.set_error_info("InvalidArguments", DOMAIN, std::collections::HashMap::new());
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        EngineError::PermissionDenied(_) => {
            with_reason(Code::PermissionDenied, message, "PermissionDenied")
        }
        EngineError::ResourceExhausted(_) => {
            with_reason(Code::ResourceExhausted, message, "TooManySessions")
        }
        EngineError::AlreadyExists(_) => with_reason(Code::AlreadyExists, message, "AlreadyExists"),
        EngineError::FailedPrecondition { reason, .. } => {
            with_reason(Code::FailedPrecondition, message, reason)
        }
        EngineError::ConnectFailed { reason, .. } => {
            with_reason(Code::Unavailable, message, reason)
        }
        EngineError::Timeout { .. } => {
            with_reason(Code::DeadlineExceeded, message, "connect-failed")
        }
        EngineError::Aborted(_) => with_reason(Code::Aborted, message, "Aborted"),
        EngineError::Canceled(_) => with_reason(Code::Cancelled, message, "Canceled"),
        EngineError::Store(_) => with_reason(Code::Internal, message, "Failed"),
        EngineError::Stopped => with_reason(Code::Unavailable, message, "Stopped"),
    }
}

/// UNIMPLEMENTED for a call no backend can carry out yet; `what` says which and why.
pub fn not_supported(what: impl Into<String>) -> Status {
    with_reason(Code::Unimplemented, what.into(), "NotSupported")
}

/// INVALID_ARGUMENT naming one field.
pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Status {
    from_engine(EngineError::InvalidArgument {
        field: field.into(),
        message: message.into(),
    })
}

impl From<EngineError> for Status {
    fn from(e: EngineError) -> Self {
        from_engine(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_error_has_its_code_and_reason() {
        let cases = [
            (
                EngineError::NotFound {
                    kind: "service",
                    id: "x".into(),
                },
                Code::NotFound,
                "NotFound",
            ),
            (
                EngineError::InvalidArgument {
                    field: "settings.allowed_bearers[0]".into(),
                    message: "bad".into(),
                },
                Code::InvalidArgument,
                "InvalidArguments",
            ),
            (
                EngineError::PermissionDenied("no".into()),
                Code::PermissionDenied,
                "PermissionDenied",
            ),
            (
                EngineError::ResourceExhausted("many".into()),
                Code::ResourceExhausted,
                "TooManySessions",
            ),
            (
                EngineError::AlreadyExists("one".into()),
                Code::AlreadyExists,
                "AlreadyExists",
            ),
            (
                EngineError::FailedPrecondition {
                    reason: "NotSupported",
                    message: "m".into(),
                },
                Code::FailedPrecondition,
                "NotSupported",
            ),
            (
                EngineError::ConnectFailed {
                    id: "s".into(),
                    reason: "dhcp-failed",
                    message: "m".into(),
                },
                Code::Unavailable,
                "dhcp-failed",
            ),
            (
                EngineError::Timeout {
                    id: "s".into(),
                    after: std::time::Duration::from_secs(1),
                },
                Code::DeadlineExceeded,
                "connect-failed",
            ),
            (EngineError::Aborted("a".into()), Code::Aborted, "Aborted"),
            (
                EngineError::Canceled("c".into()),
                Code::Cancelled,
                "Canceled",
            ),
            (EngineError::Store("disk".into()), Code::Internal, "Failed"),
            (EngineError::Stopped, Code::Unavailable, "Stopped"),
        ];
        for (error, code, reason) in cases {
            let status = from_engine(error.clone());
            assert_eq!(status.code(), code, "{error:?}");
            assert_eq!(
                status.get_details_error_info().map(|i| i.reason),
                Some(reason.to_string())
            );
        }
        let status = invalid("settings.connection_type", "unknown value 9");
        let bad = status
            .get_details_bad_request()
            .expect("bad request details");
        assert_eq!(bad.field_violations[0].field, "settings.connection_type");
        assert!(status.message().contains("settings.connection_type"));
    }
}
