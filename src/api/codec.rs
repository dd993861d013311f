//! The protobuf codec of netpilot's services: tonic-prost's, except that a request that is
//! not a valid protobuf message (invalid UTF-8 in a string field, a wrong wire type, a
//! truncated field) is `INVALID_ARGUMENT`, the caller's fault, not prost's default
//! `INTERNAL`.

use std::marker::PhantomData;

use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt};

/// First capacity, bytes, of a response stream's encode buffer. It lives as long as the
/// stream, so tonic's default (8 KiB) was most of what an idle session stream costs; it
/// grows for larger messages (ListServices with many services).
const ENCODE_BUFFER: usize = 1024;

/// Encoded bytes after which a stream yields to the runtime (tonic's default).
const YIELD_THRESHOLD: usize = 32 * 1024;

/// The codec the generated services and clients use (build.rs `codec_path`).
#[derive(Debug, Clone)]
pub struct Codec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for Codec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for Codec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = CheckedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::new(ENCODE_BUFFER, YIELD_THRESHOLD))
    }

    fn decoder(&mut self) -> Self::Decoder {
        CheckedDecoder(PhantomData)
    }
}

/// Decodes `U`; a malformed message is `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct CheckedDecoder<U>(PhantomData<U>);

impl<U: prost::Message + Default> Decoder for CheckedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf).map(Some).map_err(|e| malformed(&e))
    }
}

/// The status for a message prost could not decode.
pub fn malformed(e: &prost::DecodeError) -> Status {
    let mut details = ErrorDetails::with_bad_request_violation("", e.to_string());
    details.set_error_info(
        "InvalidArguments",
        "netpilot",
        std::collections::HashMap::new(),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!("the request is not a valid protobuf message: {e}"),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn invalid_utf8_and_wire_types_are_invalid_argument() {
        // GetServiceRequest.service_id (field 1, length-delimited) with invalid UTF-8.
        let bad_utf8 = [0x0a, 0x02, 0xff, 0xfe];
        // Field 1 sent as a varint instead of a string.
        let wrong_wire = [0x08, 0x01];
        for bytes in [&bad_utf8[..], &wrong_wire[..]] {
            let e = crate::pb::GetServiceRequest::decode(bytes).expect_err("malformed");
            let status = malformed(&e);
            assert_eq!(status.code(), Code::InvalidArgument);
        }
    }
}
