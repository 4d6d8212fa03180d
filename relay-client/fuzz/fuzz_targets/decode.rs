//! Feeds arbitrary bytes to both decoders, in arbitrary pieces, with small caps. The decoders must
//! never panic, never consume input they did not decode, and whatever they accept re-encodes to
//! octets that decode to the same frame.
#![no_main]

use bytes::BytesMut;
use iris_client::codec::{decode_client_frame, decode_node_frame, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits { max_message: 4096, chunk_limit: 512 };
    // The first octet picks where the stream is split, exercising partial input.
    let Some((&split, data)) = data.split_first() else { return };
    let split = (split as usize).min(data.len());

    let mut buf = BytesMut::from(&data[..split]);
    let mut offset = 0;
    for piece in [&data[split..], &[][..]] {
        loop {
            let before = buf.clone();
            match decode_client_frame(&mut buf, &limits) {
                Ok(Some(frame)) => {
                    offset += before.len() - buf.len();
                    let mut again = BytesMut::new();
                    frame.encode(&mut again);
                    let decoded = decode_client_frame(&mut again, &limits).expect("re-encoded frame decodes");
                    assert_eq!(decoded.as_ref(), Some(&frame), "client frame changes on a round trip");
                    assert!(again.is_empty());
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before.len(), "incomplete input must not be consumed");
                    break;
                }
                Err(_) => return,
            }
        }
        buf.extend_from_slice(piece);
    }
    assert!(offset <= data.len());

    let mut buf = BytesMut::from(data);
    while let Ok(Some(frame)) = decode_node_frame(&mut buf, &limits) {
        let mut again = BytesMut::new();
        frame.encode(&mut again);
        let decoded = decode_node_frame(&mut again, &limits).expect("re-encoded frame decodes");
        assert_eq!(decoded.as_ref(), Some(&frame), "node frame changes on a round trip");
    }
});
