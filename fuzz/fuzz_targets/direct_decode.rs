//! Fuzz target: the request-response decoder exactly as a peer runs it — libp2p's CBOR codec
//! (cbor4ii) with Passcom's size limits — fed arbitrary bytes as the body of a direct request
//! and of a response, as a rogue peer could write them on a `/passcom/direct/2` stream.
#![no_main]

use futures::io::Cursor;
use libfuzzer_sys::fuzz_target;
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use libp2p::request_response::cbor::codec::Codec as Cbor;
use passcom_net::wire;
use passcom_node::Message;

/// The response limit `passcom_net::behaviour` sets (the response is CBOR `null`).
const MAX_RESPONSE_BYTES: u64 = 1024;

fuzz_target!(|data: &[u8]| {
    let protocol = StreamProtocol::new(wire::DIRECT_PROTOCOL);
    let mut codec = Cbor::<Message, ()>::default()
        .set_request_size_maximum(wire::MAX_DIRECT_BYTES)
        .set_response_size_maximum(MAX_RESPONSE_BYTES);
    futures::executor::block_on(async {
        if let Ok(msg) = codec.read_request(&protocol, &mut Cursor::new(data)).await {
            // What decodes must re-encode to a request that decodes to the same message.
            let mut out = Cursor::new(Vec::new());
            codec
                .write_request(&protocol, &mut out, msg.clone())
                .await
                .expect("a decoded request encodes");
            let again = codec
                .read_request(&protocol, &mut Cursor::new(out.into_inner()))
                .await
                .expect("an encoded request decodes");
            assert_eq!(again, msg, "decode(encode(m)) != m");
        }
        let _ = codec.read_response(&protocol, &mut Cursor::new(data)).await;
    });
});
