//! A seeded random scenario with members of all three implementations
//! (mlsx, mls-rs 0.57, OpenMLS 0.9): random committers add up to three
//! members of any kind, remove members or commit with a path; after every
//! epoch every member must agree on the epoch authenticator, and one
//! random member's application message must decrypt everywhere.
//! `MLSX_INTEROP_SEED` selects the seed (printed on every run).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use mls_rs::client_builder::MlsConfig;
use mls_rs::group::ReceivedMessage;
use mls_rs::identity::SigningIdentity;
use mls_rs::identity::basic::{BasicCredential as RsBasicCredential, BasicIdentityProvider};
use mls_rs::{CipherSuiteProvider as _, Client, CryptoProvider as _, ExtensionList};
use mls_rs_crypto_rustcrypto::RustCryptoProvider as MlsRsCrypto;
use mlsx_base::codec::{CipherSuite, KeyPackage as XKeyPackage, MlsMessage, MlsMessageBody, decode, encode};
use mlsx_base::crypto::rustcrypto::RustCryptoProvider;
use mlsx_base::crypto::{CipherSuiteProvider, CryptoProvider};
use mlsx_base::group::{CommitOptions, Group, GroupConfig, Identity, KeyPackageBundle, Received};
use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::*;
use openmls_basic_credential::SignatureKeyPair;
use openmls_rust_crypto::OpenMlsRustCrypto;

fn rs_peer(suite: u16, name: &str) -> Client<impl MlsConfig + use<>> {
    let crypto = MlsRsCrypto::default();
    let cs = crypto.cipher_suite_provider(mls_rs::CipherSuite::from(suite)).unwrap();
    let (secret, public) = cs.signature_key_generate().unwrap();
    let identity = SigningIdentity::new(RsBasicCredential::new(name.as_bytes().to_vec()).into_credential(), public);
    Client::builder()
        .identity_provider(BasicIdentityProvider)
        .crypto_provider(crypto)
        .signing_identity(identity, secret, suite.into())
        .build()
}

/// An OpenMLS client: provider (with its storage) and signer.
struct OPeer {
    provider: OpenMlsRustCrypto,
    signer: SignatureKeyPair,
}

fn openmls_suite(suite: u16) -> Ciphersuite {
    Ciphersuite::try_from(suite).unwrap()
}

fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .use_ratchet_tree_extension(true)
        .wire_format_policy(MIXED_PLAINTEXT_WIRE_FORMAT_POLICY)
        .build()
}

enum Member<C: MlsConfig> {
    X(Box<Group>),
    R(Box<mls_rs::Group<C>>),
    O(Box<(OPeer, MlsGroup)>),
}

enum Joiner<C: MlsConfig> {
    X(Box<KeyPackageBundle>),
    R(Client<C>),
    O(Box<OPeer>),
}

/// A KeyPackage as an `MLSMessage` in bytes.
fn kp_message(kp: XKeyPackage) -> Vec<u8> {
    encode(&MlsMessage::new(MlsMessageBody::KeyPackage(kp))).unwrap()
}

impl<C: MlsConfig> Member<C> {
    fn leaf(&self) -> u32 {
        match self {
            Member::X(g) => g.own_leaf().0,
            Member::R(g) => g.current_member_index(),
            Member::O(b) => b.1.own_leaf_index().u32(),
        }
    }

    fn auth(&self) -> Vec<u8> {
        match self {
            Member::X(g) => g.epoch_authenticator().to_vec(),
            Member::R(g) => g.epoch_authenticator().unwrap().to_vec(),
            Member::O(b) => b.1.epoch_authenticator().as_slice().to_vec(),
        }
    }

    fn commit(&mut self, adds: &[Vec<u8>], removes: &[u32]) -> (Vec<u8>, Option<Vec<u8>>) {
        match self {
            Member::X(g) => {
                let mut proposals = vec![];
                for kp in adds {
                    let MlsMessageBody::KeyPackage(kp) = decode::<MlsMessage>(kp).unwrap().body else {
                        panic!()
                    };
                    proposals.push(mlsx_base::codec::Proposal::Add(mlsx_base::codec::Add { key_package: kp }));
                }
                for r in removes {
                    proposals.push(mlsx_base::codec::Proposal::Remove(mlsx_base::codec::Remove {
                        removed: mlsx_base::tree::math::LeafIndex(*r),
                    }));
                }
                let out = g
                    .commit(CommitOptions {
                        proposals,
                        ..CommitOptions::default()
                    })
                    .unwrap();
                g.merge_pending_commit().unwrap();
                (encode(&out.commit).unwrap(), out.welcome.map(|w| encode(&w).unwrap()))
            }
            Member::R(g) => {
                let mut b = g.commit_builder();
                for kp in adds {
                    b = b.add_member(mls_rs::MlsMessage::from_bytes(kp).unwrap()).unwrap();
                }
                for r in removes {
                    b = b.remove_member(*r).unwrap();
                }
                let out = b.build().unwrap();
                g.apply_pending_commit().unwrap();
                (
                    out.commit_message.to_bytes().unwrap(),
                    out.welcome_messages.first().map(|w| w.to_bytes().unwrap()),
                )
            }
            Member::O(b) => {
                let (p, g) = &mut **b;
                let (commit, welcome) = if !adds.is_empty() {
                    let kps: Vec<KeyPackage> = adds
                        .iter()
                        .map(|kp| {
                            let MlsMessageBodyIn::KeyPackage(kp) = MlsMessageIn::tls_deserialize_exact(kp).unwrap().extract() else {
                                panic!()
                            };
                            kp.validate(p.provider.crypto(), ProtocolVersion::Mls10).unwrap()
                        })
                        .collect();
                    let (c, w, _) = g.add_members(&p.provider, &p.signer, &kps).unwrap();
                    (c, Some(w))
                } else if !removes.is_empty() {
                    let leaves: Vec<LeafNodeIndex> = removes.iter().map(|r| LeafNodeIndex::new(*r)).collect();
                    let (c, w, _) = g.remove_members(&p.provider, &p.signer, &leaves).unwrap();
                    (c, w)
                } else {
                    let bundle = g.self_update(&p.provider, &p.signer, Default::default()).unwrap();
                    (bundle.commit().clone(), None)
                };
                g.merge_pending_commit(&p.provider).unwrap();
                (commit.to_bytes().unwrap(), welcome.map(|w| w.to_bytes().unwrap()))
            }
        }
    }

    /// Processes a message; returns application data if it was one.
    fn process(&mut self, msg: &[u8]) -> Option<Vec<u8>> {
        match self {
            Member::X(g) => match g.process_message(&decode(msg).unwrap()).unwrap() {
                Received::Commit(staged) => {
                    g.merge_staged_commit(staged).unwrap();
                    None
                }
                Received::Application { data, .. } => Some(data),
                Received::Proposal(_) | Received::Envelope { .. } => None,
            },
            Member::R(g) => match g.process_incoming_message(mls_rs::MlsMessage::from_bytes(msg).unwrap()).unwrap() {
                ReceivedMessage::ApplicationMessage(d) => Some(d.data().to_vec()),
                _ => None,
            },
            Member::O(b) => {
                let (p, g) = &mut **b;
                let m = MlsMessageIn::tls_deserialize_exact(msg)
                    .unwrap()
                    .try_into_protocol_message()
                    .unwrap();
                match g.process_message(&p.provider, m).unwrap().into_content() {
                    ProcessedMessageContent::StagedCommitMessage(staged) => {
                        g.merge_staged_commit(&p.provider, *staged).unwrap();
                        None
                    }
                    ProcessedMessageContent::ApplicationMessage(a) => Some(a.into_bytes()),
                    _ => None,
                }
            }
        }
    }

    fn encrypt(&mut self, data: &[u8]) -> Vec<u8> {
        match self {
            Member::X(g) => encode(&g.encrypt_application(data, b"").unwrap()).unwrap(),
            Member::R(g) => g.encrypt_application_message(data, vec![]).unwrap().to_bytes().unwrap(),
            Member::O(b) => {
                let (p, g) = &mut **b;
                g.create_message(&p.provider, &p.signer, data).unwrap().to_bytes().unwrap()
            }
        }
    }
}

/// xorshift64*: a seeded generator for the scenario (no crypto use).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_scenario<C: MlsConfig>(suite: u16, seed: u64, epochs: usize, with_openmls: bool, make_rs: impl Fn(&str) -> Client<C>) {
    let cs: Arc<dyn CipherSuiteProvider> = RustCryptoProvider::new().cipher_suite_provider(CipherSuite(suite)).unwrap();
    let mut rng = Rng(seed | 1);
    let mut counter = 0usize;
    let kinds = if with_openmls { 3 } else { 2 };
    let mut new_joiner = |rng: &mut Rng| -> (Joiner<C>, Vec<u8>) {
        counter += 1;
        let name = format!("m{counter}");
        match rng.below(kinds) {
            0 => {
                let b = Identity::basic(cs.as_ref(), name.as_bytes())
                    .unwrap()
                    .key_package(cs.as_ref())
                    .unwrap();
                let kp = kp_message(b.key_package.clone());
                (Joiner::X(Box::new(b)), kp)
            }
            1 => {
                let c = make_rs(&name);
                let kp = c
                    .generate_key_package_message(ExtensionList::default(), ExtensionList::default(), None)
                    .unwrap()
                    .to_bytes()
                    .unwrap();
                (Joiner::R(c), kp)
            }
            _ => {
                let os = openmls_suite(suite);
                let provider = OpenMlsRustCrypto::default();
                let signer = SignatureKeyPair::new(os.signature_algorithm()).unwrap();
                signer.store(provider.storage()).unwrap();
                let credential = CredentialWithKey {
                    credential: BasicCredential::new(name.into_bytes()).into(),
                    signature_key: signer.to_public_vec().into(),
                };
                let bundle = KeyPackage::builder().build(os, &provider, &signer, credential).unwrap();
                let kp = kp_message(decode(&bundle.key_package().tls_serialize_detached().unwrap()).unwrap());
                (Joiner::O(Box::new(OPeer { provider, signer })), kp)
            }
        }
    };
    let join = |j: Joiner<C>, welcome: &[u8]| -> Member<C> {
        match j {
            Joiner::X(b) => Member::X(Box::new(
                Group::join(cs.clone(), &decode(welcome).unwrap(), *b, None, GroupConfig::default()).unwrap(),
            )),
            Joiner::R(c) => Member::R(Box::new(
                c.join_group(None, &mls_rs::MlsMessage::from_bytes(welcome).unwrap(), None)
                    .unwrap()
                    .0,
            )),
            Joiner::O(p) => {
                let MlsMessageBodyIn::Welcome(w) = MlsMessageIn::tls_deserialize_exact(welcome).unwrap().extract() else {
                    panic!()
                };
                let g = StagedWelcome::new_from_welcome(&p.provider, &join_config(), w, None)
                    .unwrap()
                    .into_group(&p.provider)
                    .unwrap();
                Member::O(Box::new((*p, g)))
            }
        }
    };
    let mut members: Vec<Member<C>> = vec![Member::X(Box::new(
        Group::create(
            cs.clone(),
            Identity::basic(cs.as_ref(), b"founder").unwrap(),
            b"random".to_vec(),
            GroupConfig::default(),
        )
        .unwrap(),
    ))];
    for epoch in 0..epochs {
        let committer = rng.below(members.len());
        let mut adds = vec![];
        let mut joiners = vec![];
        let mut removes = vec![];
        let action = rng.below(10);
        if members.len() < 4 || (action < 4 && members.len() < 24) {
            for _ in 0..1 + rng.below(3) {
                let (j, kp) = new_joiner(&mut rng);
                joiners.push(j);
                adds.push(kp);
            }
        } else if action < 7 {
            let victim = loop {
                let v = rng.below(members.len());
                if v != committer {
                    break v;
                }
            };
            removes.push(members[victim].leaf());
        }
        let (commit, welcome) = members[committer].commit(&adds, &removes);
        let mut next = vec![];
        for (i, mut m) in members.into_iter().enumerate() {
            if i != committer {
                m.process(&commit);
            }
            if i == committer || !removes.contains(&m.leaf()) {
                next.push(m);
            }
        }
        members = next;
        for j in joiners {
            members.push(join(j, welcome.as_ref().unwrap()));
        }
        let auth = members[0].auth();
        for m in &members {
            assert_eq!(
                m.auth(),
                auth,
                "seed {seed}, suite {suite}: epoch authenticators differ after epoch {epoch}"
            );
        }
        let from = rng.below(members.len());
        let text = format!("epoch {epoch} from {from}");
        let msg = members[from].encrypt(text.as_bytes());
        for (i, m) in members.iter_mut().enumerate() {
            if i != from {
                assert_eq!(m.process(&msg).as_deref(), Some(text.as_bytes()), "seed {seed}, epoch {epoch}");
            }
        }
    }
}

#[test]
fn seeded_random_scenario_three_implementations() {
    let seed = std::env::var("MLSX_INTEROP_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_2026);
    eprintln!("interop random scenario seed: {seed} (set MLSX_INTEROP_SEED to change)");
    random_scenario(1, seed, 300, true, |n| rs_peer(1, n));
    random_scenario(2, seed.wrapping_add(1), 40, true, |n| rs_peer(2, n));
    random_scenario(7, seed.wrapping_add(2), 40, false, |n| rs_peer(7, n));
}
