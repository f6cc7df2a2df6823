//! The envelope codec: fixed cases for the layout and the errors, and properties over any
//! envelope and any input.

use proptest::prelude::*;

use super::*;

fn text(s: &str) -> Frame {
    Frame::Text(Bytes::copy_from_slice(s.as_bytes()))
}

fn users_envelope() -> Envelope {
    Envelope {
        origin: "node-a".into(),
        delivery: Delivery::Users {
            users: vec!["alice".into(), "bob".into()],
            frames: Frames {
                frames: vec![
                    text("42[\"message:new\",{}]"),
                    Frame::Binary(Bytes::from_static(&[0, 255])),
                ],
                except: Some("sid-1".into()),
                message: true,
            },
        },
    }
}

#[test]
fn every_kind_round_trips() {
    let group = Envelope {
        origin: "node-b".into(),
        delivery: Delivery::Group {
            group: "g.1".into(),
            frames: Frames {
                frames: vec![text("4hello")],
                except: None,
                message: false,
            },
        },
    };
    let membership = Envelope {
        origin: "node-c".into(),
        delivery: Delivery::Membership {
            group: "g".into(),
            user: "u".into(),
            member: true,
        },
    };
    let route = Envelope {
        origin: "node-d".into(),
        delivery: Delivery::RouteChanged { user: "u".into() },
    };
    let blocks = Envelope {
        origin: "node-e".into(),
        delivery: Delivery::BlocksChanged {
            a: "u1".into(),
            b: "u2".into(),
        },
    };
    for envelope in [users_envelope(), group, membership, route, blocks] {
        assert_eq!(Envelope::decode(&envelope.encode()), Ok(envelope));
    }
}

#[test]
fn the_layout_is_compact_and_starts_with_the_version() {
    let envelope = Envelope {
        origin: "a".into(),
        delivery: Delivery::Users {
            users: vec!["u".into()],
            frames: Frames {
                frames: vec![text("4x")],
                except: None,
                message: false,
            },
        },
    };
    let bytes = envelope.encode();
    assert_eq!(
        &bytes[..],
        &[VERSION, 1, 1, b'a', 0, 1, 1, b'u', 1, 0, 2, b'4', b'x']
    );
}

#[test]
fn unknown_versions_and_kinds_are_typed_errors() {
    assert_eq!(Envelope::decode(&Bytes::new()), Err(EnvelopeError::Empty));
    let mut bytes = users_envelope().encode().to_vec();
    bytes[0] = 2;
    assert_eq!(
        Envelope::decode(&Bytes::from(bytes.clone())),
        Err(EnvelopeError::UnknownVersion(2))
    );
    bytes[0] = VERSION;
    bytes[1] = 9;
    assert_eq!(
        Envelope::decode(&Bytes::from(bytes)),
        Err(EnvelopeError::UnknownKind(9))
    );
}

#[test]
fn every_truncation_is_refused_and_appended_bytes_are_ignored() {
    let bytes = users_envelope().encode();
    for end in 0..bytes.len() {
        assert!(
            Envelope::decode(&bytes.slice(..end)).is_err(),
            "accepted {end} bytes"
        );
    }
    let mut longer = bytes.to_vec();
    longer.extend_from_slice(b"future fields");
    assert_eq!(Envelope::decode(&Bytes::from(longer)), Ok(users_envelope()));
}

#[test]
fn huge_counts_and_bad_text_are_refused_without_allocating() {
    // A count of 2^63 users, then nothing.
    let mut huge = vec![VERSION, 1, 0, 0];
    huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
    assert!(Envelope::decode(&Bytes::from(huge)).is_err());
    let overlong = vec![
        VERSION, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert_eq!(
        Envelope::decode(&Bytes::from(overlong)),
        Err(EnvelopeError::InvalidLength)
    );
    let bad_utf8 = vec![VERSION, 3, 1, 0xff, 0, 0, 0];
    assert_eq!(
        Envelope::decode(&Bytes::from(bad_utf8)),
        Err(EnvelopeError::InvalidUtf8)
    );
    let bad_bool = vec![VERSION, 3, 0, 0, 0, 2];
    assert_eq!(
        Envelope::decode(&Bytes::from(bad_bool)),
        Err(EnvelopeError::InvalidBool(2))
    );
}

fn frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        ".{0,40}".prop_map(|s| Frame::Text(Bytes::from(s))),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(|b| Frame::Binary(Bytes::from(b))),
    ]
}

fn frames() -> impl Strategy<Value = Frames> {
    (
        proptest::collection::vec(frame(), 0..4),
        proptest::option::of(".{0,20}"),
        any::<bool>(),
    )
        .prop_map(|(frames, except, message)| Frames {
            frames,
            except,
            message,
        })
}

fn envelope() -> impl Strategy<Value = Envelope> {
    let delivery = prop_oneof![
        (proptest::collection::vec(".{0,20}", 0..5), frames())
            .prop_map(|(users, frames)| Delivery::Users { users, frames }),
        (".{0,20}", frames()).prop_map(|(group, frames)| Delivery::Group { group, frames }),
        (".{0,20}", ".{0,20}", any::<bool>()).prop_map(|(group, user, member)| {
            Delivery::Membership {
                group,
                user,
                member,
            }
        }),
        ".{0,20}".prop_map(|user| Delivery::RouteChanged { user }),
        (".{0,20}", ".{0,20}").prop_map(|(a, b)| Delivery::BlocksChanged { a, b }),
    ];
    (".{0,20}", delivery).prop_map(|(origin, delivery)| Envelope { origin, delivery })
}

#[test]
fn polling_requests_and_replies_round_trip() {
    for method in [
        PollMethod::Get,
        PollMethod::Post { binary: false },
        PollMethod::Post { binary: true },
    ] {
        let request = PollRequest {
            sid: "abc.bm9kZS1h".into(),
            method,
            body: Bytes::from_static(b"4hello\x1e4world"),
        };
        assert_eq!(PollRequest::decode(&request.encode()), Ok(request));
    }
    for content_type in [None, Some("text/plain; charset=UTF-8".to_owned())] {
        let reply = PollReply {
            status: 200,
            content_type,
            body: Bytes::from_static(b"ok"),
        };
        assert_eq!(PollReply::decode(&reply.encode()), Ok(reply));
    }
}

#[test]
fn polling_messages_are_not_taken_for_one_another() {
    let request = PollRequest {
        sid: "s".into(),
        method: PollMethod::Get,
        body: Bytes::new(),
    }
    .encode();
    assert_eq!(
        PollReply::decode(&request),
        Err(EnvelopeError::UnknownKind(KIND_POLL_REQUEST))
    );
    assert_eq!(
        Envelope::decode(&request),
        Err(EnvelopeError::UnknownKind(KIND_POLL_REQUEST))
    );
    assert_eq!(
        PollRequest::decode(&users_envelope().encode()),
        Err(EnvelopeError::UnknownKind(KIND_USERS))
    );
    let bad_method = Bytes::from(vec![VERSION, KIND_POLL_REQUEST, 1, b's', 7, 0]);
    assert_eq!(
        PollRequest::decode(&bad_method),
        Err(EnvelopeError::UnknownMethod(7))
    );
    let bad_status = Bytes::from(vec![VERSION, KIND_POLL_REPLY, 5, 0, 0]);
    assert_eq!(
        PollReply::decode(&bad_status),
        Err(EnvelopeError::InvalidStatus(5))
    );
    let truncated = PollReply {
        status: 400,
        content_type: None,
        body: Bytes::from_static(b"{}"),
    }
    .encode();
    for end in 0..truncated.len() {
        assert!(PollReply::decode(&truncated.slice(..end)).is_err());
    }
}

proptest! {
    #[test]
    fn any_polling_input_decodes_or_errs_without_panicking(input in proptest::collection::vec(any::<u8>(), 0..64)) {
        let bytes = Bytes::from(input);
        let _ = PollRequest::decode(&bytes);
        let _ = PollReply::decode(&bytes);
    }

    #[test]
    fn any_envelope_round_trips(envelope in envelope()) {
        prop_assert_eq!(Envelope::decode(&envelope.encode()), Ok(envelope));
    }

    #[test]
    fn any_input_decodes_or_errs_without_panicking(input in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Envelope::decode(&Bytes::from(input));
    }

    #[test]
    fn any_corruption_of_a_valid_envelope_is_handled(
        envelope in envelope(),
        index in any::<usize>(),
        byte in any::<u8>(),
    ) {
        let mut bytes = envelope.encode().to_vec();
        let at = index % bytes.len();
        bytes[at] = byte;
        let _ = Envelope::decode(&Bytes::from(bytes));
    }
}
