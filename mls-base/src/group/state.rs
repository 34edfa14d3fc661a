//! Saving and restoring a group's state, and the storage boundary.
//!
//! State is serialized with `serde` (postcard) from a transient snapshot
//! that holds secrets as plain bytes and is zeroized on drop; the saved
//! bytes come back in a [`Zeroizing`] buffer. Wire structs inside the state
//! are stored in their RFC 9420 encoding.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::PublicGroup;
use super::{CachedProposal, Group, GroupConfig, Identity, PastEpoch, PastMember};
use crate::codec::{Capabilities, Credential, GroupContext, Proposal, RatchetTreeNodes, Sender, decode, encode};
use crate::crypto::{CipherSuiteProvider, HpkePrivateKey, Secret, SignaturePrivateKey};
use crate::error::{Error, MisuseError, StateError};
use crate::schedule::secret_tree::SecretTreeState;
use crate::schedule::{EpochSecrets, EpochSecretsState, LabeledSecret, SecretTree};
use crate::tree::RatchetTree;
use crate::tree::math::{LeafIndex, NodeIndex};
use crate::tree::treekem::TreePrivateKeys;

/// Format version of saved state.
/// 2: past epochs keep each member's credential beside its signature key.
const STATE_VERSION: u16 = 2;

#[derive(Serialize, Deserialize, Zeroize)]
struct NodeKey {
    node: u32,
    key: Vec<u8>,
}

#[derive(Serialize, Deserialize, Zeroize)]
struct PendingState {
    reference: Vec<u8>,
    proposal: Vec<u8>,
    sender: Vec<u8>,
}

#[derive(Serialize, Deserialize, Zeroize)]
struct PastState {
    epoch: u64,
    context: Vec<u8>,
    secret_tree: SecretTreeState,
    sender_data_secret: Vec<u8>,
    members: Vec<PastMemberState>,
}

#[derive(Serialize, Deserialize, Zeroize)]
struct PastMemberState {
    leaf: u32,
    signature_key: Vec<u8>,
    credential: Vec<u8>,
}

#[derive(Serialize, Deserialize, Zeroize)]
struct EpochPsk {
    epoch: u64,
    secret: Vec<u8>,
}

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct GroupState {
    version: u16,
    context: Vec<u8>,
    tree: Vec<u8>,
    own_leaf: u32,
    keys: Vec<NodeKey>,
    credential: Vec<u8>,
    signature_key: Vec<u8>,
    signer: Vec<u8>,
    capabilities: Vec<u8>,
    key_package_lifetime: u64,
    secrets: EpochSecretsState,
    secret_tree: SecretTreeState,
    interim_transcript_hash: Vec<u8>,
    pending: Vec<PendingState>,
    past: Vec<PastState>,
    external_psks: Vec<LabeledSecret>,
    resumption_psks: Vec<EpochPsk>,
    pending_leaf_key: Vec<u8>,
    last_reinit: Vec<u8>,
    active: u8,
}

fn corrupt<E>(_: E) -> Error {
    StateError::Corrupt.into()
}

impl Group {
    /// The group's state as bytes, for [`GroupStorage`]. A pending commit
    /// we created is not saved: merge or clear it first.
    pub fn save(&self) -> Result<Zeroizing<Vec<u8>>, Error> {
        if self.pending_commit.is_some() {
            return Err(MisuseError::PendingCommit.into());
        }
        let state = GroupState {
            version: STATE_VERSION,
            context: encode(&self.public.context)?,
            tree: encode(&self.public.tree.to_nodes())?,
            own_leaf: self.keys.own_leaf.0,
            keys: self
                .keys
                .nodes()
                .filter_map(|x| {
                    self.keys.key(x).map(|k| NodeKey {
                        node: x.0,
                        key: k.as_bytes().to_vec(),
                    })
                })
                .collect(),
            credential: encode(&self.identity.credential)?,
            signature_key: self.identity.signature_key.clone(),
            signer: self.identity.signer.as_bytes().to_vec(),
            capabilities: encode(&self.identity.capabilities)?,
            key_package_lifetime: self.identity.key_package_lifetime,
            secrets: self.secrets.to_state(),
            secret_tree: self.secret_tree.to_state(),
            interim_transcript_hash: self.public.interim_transcript_hash.clone(),
            pending: self
                .public
                .pending
                .iter()
                .map(|p| {
                    Ok(PendingState {
                        reference: p.reference.as_slice().to_vec(),
                        proposal: encode(&p.proposal)?,
                        sender: encode(&p.sender)?,
                    })
                })
                .collect::<Result<_, Error>>()?,
            past: self
                .past
                .iter()
                .map(|(e, p)| {
                    Ok(PastState {
                        epoch: *e,
                        context: encode(&p.context)?,
                        secret_tree: p.secret_tree.to_state(),
                        sender_data_secret: p.sender_data_secret.as_bytes().to_vec(),
                        members: p
                            .members
                            .iter()
                            .map(|(leaf, m)| {
                                Ok(PastMemberState {
                                    leaf: *leaf,
                                    signature_key: m.signature_key.clone(),
                                    credential: encode(&m.credential)?,
                                })
                            })
                            .collect::<Result<_, Error>>()?,
                    })
                })
                .collect::<Result<_, Error>>()?,
            external_psks: self
                .external_psks
                .iter()
                .map(|(l, s)| LabeledSecret {
                    label: l.clone(),
                    secret: s.as_bytes().to_vec(),
                })
                .collect(),
            resumption_psks: self
                .resumption_psks
                .iter()
                .map(|(e, s)| EpochPsk {
                    epoch: *e,
                    secret: s.as_bytes().to_vec(),
                })
                .collect(),
            pending_leaf_key: self.pending_leaf_key.as_ref().map(|k| k.as_bytes().to_vec()).unwrap_or_default(),
            last_reinit: match &self.last_reinit {
                Some(r) => encode(r)?,
                None => vec![],
            },
            active: u8::from(self.active),
        };
        let bytes = postcard::to_allocvec(&state).map_err(|e| Error::Storage(Box::new(e)))?;
        Ok(Zeroizing::new(bytes))
    }

    /// Restores a group saved with [`Group::save`].
    pub fn load(cs: Arc<dyn CipherSuiteProvider>, bytes: &[u8], config: GroupConfig) -> Result<Self, Error> {
        let state: GroupState = postcard::from_bytes(bytes).map_err(corrupt)?;
        if state.version != STATE_VERSION {
            return Err(StateError::FormatVersion {
                found: state.version,
                expected: STATE_VERSION,
            }
            .into());
        }
        let context: GroupContext = decode(&state.context)?;
        if context.cipher_suite != cs.cipher_suite() {
            return Err(StateError::CipherSuiteMismatch {
                saved: context.cipher_suite,
                provider: cs.cipher_suite(),
            }
            .into());
        }
        let tree = RatchetTree::from_nodes(decode::<RatchetTreeNodes>(&state.tree)?)?;
        let own_leaf = LeafIndex(state.own_leaf);
        let mut keys = TreePrivateKeys::new(own_leaf, HpkePrivateKey::new(vec![]));
        for k in &state.keys {
            keys.insert(NodeIndex(k.node), HpkePrivateKey::from_slice(&k.key));
        }
        let identity = Identity {
            credential: decode::<Credential>(&state.credential)?,
            signature_key: state.signature_key.clone(),
            signer: SignaturePrivateKey::from_slice(&state.signer),
            capabilities: decode::<Capabilities>(&state.capabilities)?,
            key_package_lifetime: state.key_package_lifetime,
            // A loaded group's new leaves are derived from its current leaf
            // (GREASE included); the flag only shapes leaves made from
            // scratch, which a loaded group does not make.
            grease: true,
            grease_extensions: false,
            leaf_extensions: vec![],
            key_package_extensions: vec![],
        };
        let pending = state
            .pending
            .iter()
            .map(|p| {
                Ok(CachedProposal {
                    reference: p.reference.clone().into(),
                    proposal: decode::<Proposal>(&p.proposal)?,
                    sender: decode::<Sender>(&p.sender)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let past = state
            .past
            .iter()
            .map(|p| {
                Ok((
                    p.epoch,
                    PastEpoch {
                        context: decode(&p.context)?,
                        secret_tree: SecretTree::from_state(&p.secret_tree)?.with_config(config.secret_tree),
                        sender_data_secret: Secret::from_slice(&p.sender_data_secret),
                        members: p
                            .members
                            .iter()
                            .map(|m| {
                                Ok((
                                    m.leaf,
                                    PastMember {
                                        signature_key: m.signature_key.clone(),
                                        credential: decode(&m.credential)?,
                                    },
                                ))
                            })
                            .collect::<Result<_, Error>>()?,
                    },
                ))
            })
            .collect::<Result<VecDeque<_>, Error>>()?;
        let current_tree = SecretTree::from_state(&state.secret_tree)?.with_config(config.secret_tree);
        let mut public = PublicGroup::new(cs, config, context, tree, state.interim_transcript_hash.clone());
        public.pending = pending;
        Ok(Self {
            public,
            identity,
            keys,
            secrets: EpochSecrets::from_state(&state.secrets)?,
            secret_tree: current_tree,
            pending_commit: None,
            past,
            external_psks: state
                .external_psks
                .iter()
                .map(|e| (e.label.clone(), Secret::from_slice(&e.secret)))
                .collect(),
            resumption_psks: state
                .resumption_psks
                .iter()
                .map(|e| (e.epoch, Secret::from_slice(&e.secret)))
                .collect::<BTreeMap<_, _>>(),
            pending_leaf_key: (!state.pending_leaf_key.is_empty()).then(|| HpkePrivateKey::from_slice(&state.pending_leaf_key)),
            last_reinit: if state.last_reinit.is_empty() {
                None
            } else {
                Some(decode(&state.last_reinit)?)
            },
            active: state.active != 0,
        })
    }
}

/// Where group states are kept between sessions. Implementations store a
/// whole epoch's state atomically; the durable one is `SqliteGroupStorage`
/// in `mlsx-app` (SQLite).
pub trait GroupStorage: Send + Sync + std::fmt::Debug {
    /// Replaces the saved state of a group.
    fn store(&mut self, group_id: &[u8], state: Zeroizing<Vec<u8>>) -> Result<(), Error>;
    /// The saved state of a group, if any.
    fn load(&self, group_id: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, Error>;
    /// Forgets a group.
    fn delete(&mut self, group_id: &[u8]) -> Result<(), Error>;
}

/// A [`GroupStorage`] in memory (for tests and short-lived processes).
#[derive(Debug, Default)]
pub struct MemoryGroupStorage {
    groups: BTreeMap<Vec<u8>, Zeroizing<Vec<u8>>>,
}

impl GroupStorage for MemoryGroupStorage {
    fn store(&mut self, group_id: &[u8], state: Zeroizing<Vec<u8>>) -> Result<(), Error> {
        self.groups.insert(group_id.to_vec(), state);
        Ok(())
    }

    fn load(&self, group_id: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        Ok(self.groups.get(group_id).map(|s| Zeroizing::new(s.to_vec())))
    }

    fn delete(&mut self, group_id: &[u8]) -> Result<(), Error> {
        self.groups.remove(group_id);
        Ok(())
    }
}
