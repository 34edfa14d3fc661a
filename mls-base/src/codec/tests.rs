//! Decoder tests: round trips, truncation, trailing bytes, non-minimal
//! varints and arbitrary input (never a panic).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use tls_codec::{DeserializeBytes, Serialize};

use super::*;
use crate::tree::math::LeafIndex;

fn leaf_node(source: LeafNodeSource) -> LeafNode {
    LeafNode {
        encryption_key: vec![1u8; 32].into(),
        signature_key: vec![2u8; 32].into(),
        credential: Credential::Basic(b"alice".to_vec().into()),
        capabilities: Capabilities {
            versions: vec![ProtocolVersion::MLS10],
            cipher_suites: vec![CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519, CipherSuite(0x0a0a)],
            extensions: vec![ExtensionType(0xff00)],
            proposals: vec![ProposalType(0xff01)],
            credentials: vec![CredentialType::BASIC, CredentialType::X509],
        },
        leaf_node_source: source,
        extensions: vec![Extension::new(ExtensionType::APPLICATION_ID, b"app".to_vec())],
        signature: vec![3u8; 64].into(),
    }
}

fn key_package() -> KeyPackage {
    KeyPackage {
        version: ProtocolVersion::MLS10,
        cipher_suite: CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519,
        init_key: vec![4u8; 32].into(),
        leaf_node: leaf_node(LeafNodeSource::KeyPackage(Lifetime {
            not_before: 1,
            not_after: u64::MAX,
        })),
        extensions: vec![],
        signature: vec![5u8; 64].into(),
    }
}

fn group_context() -> GroupContext {
    GroupContext {
        version: ProtocolVersion::MLS10,
        cipher_suite: CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519,
        group_id: b"group".to_vec().into(),
        epoch: 7,
        tree_hash: vec![6u8; 32].into(),
        confirmed_transcript_hash: vec![7u8; 32].into(),
        extensions: vec![Extension::new(ExtensionType::REQUIRED_CAPABILITIES, vec![0, 0, 0])],
    }
}

fn psk_id() -> PreSharedKeyId {
    PreSharedKeyId {
        psk: Psk::Resumption(ResumptionPsk {
            usage: ResumptionPskUsage::BRANCH,
            psk_group_id: b"g".to_vec().into(),
            psk_epoch: 3,
        }),
        psk_nonce: vec![8u8; 32].into(),
    }
}

fn all_proposals() -> Vec<Proposal> {
    vec![
        Proposal::Add(Add::new(key_package())),
        Proposal::Update(Update::new(leaf_node(LeafNodeSource::Update))),
        Proposal::Remove(Remove { removed: LeafIndex(9) }),
        Proposal::PreSharedKey(PreSharedKeyProposal { psk: psk_id() }),
        Proposal::PreSharedKey(PreSharedKeyProposal {
            psk: PreSharedKeyId {
                psk: Psk::External(ExternalPsk {
                    psk_id: b"ext".to_vec().into(),
                }),
                psk_nonce: vec![1; 32].into(),
            },
        }),
        Proposal::PreSharedKey(PreSharedKeyProposal {
            psk: PreSharedKeyId {
                psk: Psk::Application(ApplicationPsk {
                    component_id: 0x8001,
                    psk_id: b"app".to_vec().into(),
                }),
                psk_nonce: vec![1; 32].into(),
            },
        }),
        Proposal::ReInit(ReInit {
            group_id: b"new".to_vec().into(),
            version: ProtocolVersion::MLS10,
            cipher_suite: CipherSuite::MLS_256_DHKEMP384_AES256GCM_SHA384_P384,
            extensions: vec![],
        }),
        Proposal::ExternalInit(ExternalInit {
            kem_output: vec![9u8; 32].into(),
        }),
        Proposal::GroupContextExtensions(GroupContextExtensions {
            extensions: group_context().extensions,
        }),
    ]
}

fn commit() -> Commit {
    let mut proposals: Vec<ProposalOrRef> = all_proposals().into_iter().map(ProposalOrRef::Proposal).collect();
    proposals.push(ProposalOrRef::Reference(vec![0xaa; 32].into()));
    Commit {
        proposals,
        path: Some(UpdatePath {
            leaf_node: leaf_node(LeafNodeSource::Commit(vec![0xbb; 32].into())),
            nodes: vec![UpdatePathNode {
                encryption_key: vec![0xcc; 32].into(),
                encrypted_path_secret: vec![HpkeCiphertext {
                    kem_output: vec![1; 32].into(),
                    ciphertext: vec![2; 48].into(),
                }],
            }],
        }),
    }
}

fn public_message(sender: Sender, body: FramedContentBody) -> PublicMessage {
    let is_commit = matches!(body, FramedContentBody::Commit(_));
    let is_member = matches!(sender, Sender::Member(_));
    PublicMessage {
        content: FramedContent {
            group_id: b"group".to_vec().into(),
            epoch: 7,
            sender,
            authenticated_data: b"aad".to_vec().into(),
            body,
        },
        auth: FramedContentAuthData {
            signature: vec![1; 64].into(),
            confirmation_tag: is_commit.then(|| vec![2; 32].into()),
        },
        membership_tag: is_member.then(|| vec![3; 32].into()),
    }
}

fn messages() -> Vec<MlsMessage> {
    let group_info = GroupInfo {
        group_context: group_context(),
        extensions: vec![Extension::new(
            ExtensionType::RATCHET_TREE,
            vec![
                Some(Node::leaf(leaf_node(LeafNodeSource::Update))),
                None,
                Some(Node::parent(ParentNode {
                    encryption_key: vec![1; 32].into(),
                    parent_hash: vec![].into(),
                    unmerged_leaves: vec![LeafIndex(1)],
                })),
            ]
            .tls_serialize_detached()
            .unwrap(),
        )],
        confirmation_tag: vec![4; 32].into(),
        signer: LeafIndex(0),
        signature: vec![5; 64].into(),
    };
    vec![
        MlsMessage::new(MlsMessageBody::KeyPackage(key_package())),
        MlsMessage::new(MlsMessageBody::GroupInfo(group_info)),
        MlsMessage::new(MlsMessageBody::Welcome(Welcome {
            cipher_suite: CipherSuite::MLS_128_DHKEMX25519_AES128GCM_SHA256_ED25519,
            secrets: vec![EncryptedGroupSecrets {
                new_member: vec![1; 32].into(),
                encrypted_group_secrets: HpkeCiphertext {
                    kem_output: vec![2; 32].into(),
                    ciphertext: vec![3; 100].into(),
                },
            }],
            encrypted_group_info: vec![4; 300].into(),
        })),
        MlsMessage::new(MlsMessageBody::PublicMessage(public_message(
            Sender::Member(LeafIndex(1)),
            FramedContentBody::Commit(commit()),
        ))),
        MlsMessage::new(MlsMessageBody::PublicMessage(public_message(
            Sender::External(0),
            FramedContentBody::Proposal(Proposal::Remove(Remove { removed: LeafIndex(2) })),
        ))),
        MlsMessage::new(MlsMessageBody::PublicMessage(public_message(
            Sender::NewMemberProposal,
            FramedContentBody::Proposal(Proposal::Add(Add::new(key_package()))),
        ))),
        MlsMessage::new(MlsMessageBody::PublicMessage(public_message(
            Sender::NewMemberCommit,
            FramedContentBody::Commit(commit()),
        ))),
        MlsMessage::new(MlsMessageBody::PrivateMessage(PrivateMessage {
            group_id: b"group".to_vec().into(),
            epoch: 7,
            content_type: ContentType::APPLICATION,
            authenticated_data: vec![].into(),
            encrypted_sender_data: vec![1; 28].into(),
            ciphertext: vec![2; 100].into(),
        })),
    ]
}

/// Round trip, then every truncation and one trailing byte must fail.
fn check_strict<T: DeserializeBytes + Serialize + PartialEq + std::fmt::Debug>(value: &T) {
    let bytes = value.tls_serialize_detached().unwrap();
    assert_eq!(bytes.len(), value.tls_serialized_len());
    assert_eq!(&T::tls_deserialize_exact_bytes(&bytes).unwrap(), value);
    for cut in 0..bytes.len() {
        assert!(
            T::tls_deserialize_exact_bytes(&bytes[..cut]).is_err(),
            "truncated at {cut} of {} decoded",
            bytes.len()
        );
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(T::tls_deserialize_exact_bytes(&long).is_err(), "trailing byte accepted");
}

#[test]
fn every_struct_is_strict() {
    for m in messages() {
        check_strict(&m);
    }
    for p in all_proposals() {
        check_strict(&p);
    }
    check_strict(&commit());
    check_strict(&group_context());
    check_strict(&key_package());
    check_strict(&psk_id());
    check_strict(&GroupSecrets {
        joiner_secret: vec![1; 32].into(),
        path_secret: Some(PathSecret {
            path_secret: vec![2; 32].into(),
        }),
        psks: vec![psk_id()],
    });
    check_strict(&Credential::X509(vec![Certificate {
        cert_data: vec![1; 10].into(),
    }]));
    check_strict(&Credential::Other {
        credential_type: CredentialType(0xf0f0),
        data: vec![1, 2, 3].into(),
    });
    check_strict(&ExternalSender {
        signature_key: vec![1; 32].into(),
        credential: Credential::Basic(vec![].into()),
    });
    check_strict(&RequiredCapabilities {
        extension_types: vec![ExtensionType(0xff00)],
        proposal_types: vec![],
        credential_types: vec![CredentialType::BASIC],
    });
    check_strict(&SenderData {
        leaf_index: LeafIndex(3),
        generation: 9,
        reuse_guard: [1, 2, 3, 4],
    });
}

#[test]
fn non_minimal_varint_is_rejected() {
    // group_id "group" (5 bytes): minimal header 0x05; a two-byte header 0x40 0x05 is malformed (§2.1.2).
    let ctx = group_context().tls_serialize_detached().unwrap();
    assert_eq!(&ctx[4..10], b"\x05group");
    let mut bad = ctx[..4].to_vec();
    bad.extend_from_slice(&[0x40, 0x05]);
    bad.extend_from_slice(&ctx[5..]);
    assert!(GroupContext::tls_deserialize_exact_bytes(&bad).is_err());
    // Four-byte header for a short vector, and the reserved 0b11 prefix.
    assert!(VLBytes::tls_deserialize_exact_bytes(&[0x80, 0, 0, 1, 0xaa]).is_err());
    assert!(VLBytes::tls_deserialize_exact_bytes(&[0xc0, 0, 0, 0, 0, 0, 0, 1, 0xaa]).is_err());
    assert!(VLBytes::tls_deserialize_exact_bytes(&[0x01, 0xaa]).is_ok());
}

#[test]
fn invalid_optional_and_enum_values_are_rejected() {
    let c = commit();
    let mut bytes = c.tls_serialize_detached().unwrap();
    // The optional<UpdatePath> presence byte follows the proposals vector.
    let proposals_len = c.proposals.tls_serialized_len();
    assert_eq!(bytes[proposals_len], 1);
    bytes[proposals_len] = 2;
    assert!(Commit::tls_deserialize_exact_bytes(&bytes).is_err());
    // Unknown proposal types decode as opaque<V> unless registered; a body
    // that is not a valid opaque<V> (or has trailing bytes) is rejected.
    assert!(Proposal::tls_deserialize_exact_bytes(&[0x00, 0x08, 0, 0, 0, 1]).is_err());
    assert!(matches!(
        Proposal::tls_deserialize_exact_bytes(&[0x00, 0x08, 2, 0, 1]).unwrap(),
        Proposal::Custom(CustomProposal { proposal_type: ProposalType(8), body }) if body == [2, 0, 1]
    ));
    assert!(Proposal::tls_deserialize_exact_bytes(&[0x00, 0x08, 3, 0, 1]).is_err());
    // Unknown sender types are errors; an unknown wire format's body runs to the end.
    assert!(Sender::tls_deserialize_exact_bytes(&[5, 0, 0, 0, 0]).is_err());
    assert!(MlsMessage::tls_deserialize_exact_bytes(&[0, 1, 0, 1]).is_err());
    let m = MlsMessage::tls_deserialize_exact_bytes(&[0, 1, 0, 9, 7, 7]).unwrap();
    assert_eq!(
        m.body,
        MlsMessageBody::Custom(CustomBody {
            wire_format: WireFormat(9),
            body: vec![7, 7]
        })
    );
    assert_eq!(m.tls_serialize_detached().unwrap(), [0, 1, 0, 9, 7, 7]);
}

#[test]
fn confirmation_and_membership_tags_follow_the_rules() {
    // A proposal from a member has a membership tag but no confirmation tag.
    let m = public_message(
        Sender::Member(LeafIndex(0)),
        FramedContentBody::Proposal(Proposal::Remove(Remove { removed: LeafIndex(1) })),
    );
    assert!(m.auth.confirmation_tag.is_none());
    check_strict(&MlsMessage::new(MlsMessageBody::PublicMessage(m)));
}

#[test]
fn unknown_code_points_round_trip() {
    let mut kp = key_package();
    kp.extensions.push(Extension::new(ExtensionType(0x1a1a), vec![]));
    kp.leaf_node.credential = Credential::Other {
        credential_type: CredentialType(0x3a3a),
        data: vec![9].into(),
    };
    check_strict(&kp);
}

#[test]
fn group_secrets_debug_is_redacted() {
    let gs = GroupSecrets {
        joiner_secret: vec![0xab; 4].into(),
        path_secret: None,
        psks: vec![],
    };
    assert!(!format!("{gs:?}").contains("ab, ab"));
    assert!(!format!("{gs:?}").contains("abab"));
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = MlsMessage::tls_deserialize_exact_bytes(&bytes);
        let _ = Commit::tls_deserialize_exact_bytes(&bytes);
        let _ = GroupSecrets::tls_deserialize_exact_bytes(&bytes);
        let _ = RatchetTreeNodes::tls_deserialize_exact_bytes(&bytes);
        let _ = AuthenticatedContent::tls_deserialize_exact_bytes(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(idx in 0usize..8, pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let msgs = messages();
        let mut bytes = msgs[idx % msgs.len()].tls_serialize_detached().unwrap();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        if let Ok(m) = MlsMessage::tls_deserialize_exact_bytes(&bytes) {
            prop_assert_eq!(m.tls_serialize_detached().unwrap(), bytes);
        }
    }
}

/// Runs `f` on a thread with a 256 KiB stack: a decoder that recursed
/// without a bound would abort the test process here.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(f).unwrap().join().unwrap()
}

/// An envelope whose body is one `MLSMessage`, as a message pair or any
/// wrapping wire format is: the general shape of nested input.
fn envelope_len(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let (_, rest) = MlsMessage::tls_deserialize_bytes(bytes)?;
    Ok(bytes.len() - rest.len())
}

const NESTING_FORMAT: WireFormat = WireFormat(0xf0f0);
const NESTING_PROPOSAL: ProposalType = ProposalType(0xf0f1);
const NESTING_CREDENTIAL: CredentialType = CredentialType(0xf0f2);

/// A proposal body holding a proposal, a credential body holding a
/// credential: the other registries' nesting.
fn proposal_len(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let (_, rest) = Proposal::tls_deserialize_bytes(bytes)?;
    Ok(bytes.len() - rest.len())
}

fn credential_len(bytes: &[u8]) -> Result<usize, tls_codec::Error> {
    let (_, rest) = Credential::tls_deserialize_bytes(bytes)?;
    Ok(bytes.len() - rest.len())
}

fn register_nesting() {
    syntax::register_wire_format_syntax(NESTING_FORMAT, syntax::BodySyntax::Parser(envelope_len));
    syntax::register_proposal_syntax(NESTING_PROPOSAL, syntax::BodySyntax::Parser(proposal_len));
    syntax::register_credential_syntax(NESTING_CREDENTIAL, syntax::BodySyntax::Parser(credential_len));
}

/// 1 MiB of `prefix` repeated, then `tail`.
fn megabyte_of(prefix: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut out = prefix.repeat((1 << 20) / prefix.len());
    out.extend_from_slice(tail);
    out
}

#[test]
fn nested_messages_are_refused_on_a_small_stack() {
    register_nesting();
    let inner = MlsMessage::new(MlsMessageBody::KeyPackage(key_package()))
        .tls_serialize_detached()
        .unwrap();
    // Within the budget, nesting decodes.
    let mut shallow = vec![];
    for _ in 0..3 {
        shallow.extend_from_slice(&[0, 1, 0xf0, 0xf0]);
    }
    shallow.extend_from_slice(&inner);
    decode::<MlsMessage>(&shallow).unwrap();
    assert_eq!(syntax::NestingGuard::depth(), 0);
    // A megabyte of it is refused, as the budget's own error.
    let deep = megabyte_of(&[0, 1, 0xf0, 0xf0], &inner);
    let e = on_small_stack(move || {
        let e = decode::<MlsMessage>(&deep).unwrap_err();
        assert_eq!(syntax::NestingGuard::depth(), 0, "every level is given back");
        e
    });
    assert!(matches!(e, crate::Error::NestingTooDeep), "{e:?}");
}

#[test]
fn nested_proposals_and_credentials_are_refused_on_a_small_stack() {
    register_nesting();
    let proposals = megabyte_of(&[0xf0, 0xf1], &[0, 1]);
    let credentials = megabyte_of(&[0xf0, 0xf2], &[0, 1, 0]);
    let (p, c) = on_small_stack(move || {
        (
            decode::<Proposal>(&proposals).unwrap_err(),
            decode::<Credential>(&credentials).unwrap_err(),
        )
    });
    assert!(matches!(p, crate::Error::NestingTooDeep), "{p:?}");
    assert!(matches!(c, crate::Error::NestingTooDeep), "{c:?}");
}

#[test]
fn long_flat_runs_decode_on_a_small_stack() {
    // A megabyte of the flat, repeated structures (tree nodes, proposals in
    // a commit) is iteration, not recursion: it decodes on a small stack.
    let (nodes, proposals) = on_small_stack(|| {
        let mut tree = vec![];
        write_varint(&mut tree, 1 << 20).unwrap();
        tree.extend(std::iter::repeat_n(0u8, 1 << 20));
        let nodes = decode::<RatchetTreeNodes>(&tree).unwrap().len();
        let mut commit = vec![];
        write_varint(&mut commit, 1 << 20).unwrap();
        // ProposalOrRef::proposal(1), Remove(3), leaf 0: 7 bytes each.
        let one = [1u8, 0, 3, 0, 0, 0, 0];
        let count = (1 << 20) / one.len();
        commit.clear();
        write_varint(&mut commit, count * one.len()).unwrap();
        commit.extend(one.repeat(count));
        commit.push(0); // no path
        let proposals = decode::<Commit>(&commit).unwrap().proposals.len();
        (nodes, proposals)
    });
    assert_eq!(nodes, 1 << 20);
    assert_eq!(proposals, (1 << 20) / 7);
}
