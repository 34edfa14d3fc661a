//! The Exporter Tree and `SafeExportSecret` (§4.4).
//!
//! `application_export_secret = DeriveSecret(epoch_secret,
//! "application_export")` is the root of a tree with the structure of the
//! Secret Tree (RFC 9420 §9) and 2^16 leaves, one per component id. A
//! component's secret is its leaf's `tree_node_secret`; once exported it is
//! consumed: the nodes on its path are deleted and only their siblings are
//! kept (the deletion schedule of RFC 9420 §9.2), so a second export in the
//! same epoch fails and nothing of the consumed path remains in memory or
//! in saved state.

use std::collections::BTreeMap;

use mlsx_base::crypto::{CipherSuiteProvider, LabeledCrypto, Secret};
use mlsx_base::group::{Group, StagedCommit};

use crate::Error;
use crate::codec::ComponentId;
use crate::component::ComponentKey;

/// The key-schedule label of `application_export_secret` (§4.4).
pub const APPLICATION_EXPORT_LABEL: &[u8] = b"application_export";

/// The epoch-secret slot holding the tree once a component has exported.
const TREE_SLOT: &[u8] = b"application_export tree";

/// Index of the root node of a tree of 2^16 leaves (RFC 9420 §4.2 array
/// representation: leaves at even indices, the root at 2^16 - 1).
const ROOT: u32 = (1 << 16) - 1;

/// The level of node `x`: the number of trailing one bits.
fn level(x: u32) -> u32 {
    x.trailing_ones()
}

/// Whether node `x` is `leaf` or one of its ancestors.
fn covers(x: u32, leaf: u32) -> bool {
    let span = (1u32 << level(x)) - 1;
    leaf >= x - span && leaf <= x + span
}

/// An Exporter Tree of one epoch: the secrets of the nodes not yet
/// consumed whose parents are (its frontier).
#[derive(Debug)]
pub struct ExporterTree {
    nodes: BTreeMap<u32, Secret>,
}

impl ExporterTree {
    /// A fresh tree with root `application_export_secret`.
    pub fn new(application_export_secret: Secret) -> Self {
        Self {
            nodes: BTreeMap::from([(ROOT, application_export_secret)]),
        }
    }

    /// `SafeExportSecret(component_id)` (§4.4): the secret of the
    /// component's leaf, which is consumed.
    pub fn export(&mut self, cs: &(impl CipherSuiteProvider + ?Sized), component_id: ComponentId) -> Result<Secret, Error> {
        let leaf = 2 * u32::from(component_id);
        let Some(start) = self.nodes.keys().copied().find(|&x| covers(x, leaf)) else {
            return Err(Error::AlreadyExported(component_id));
        };
        let mut x = start;
        let mut secret = self.nodes.remove(&start).ok_or(Error::AlreadyExported(component_id))?;
        let nh = cs.hash_len();
        while x != leaf {
            let half = 1u32 << (level(x) - 1);
            let (left, right) = (x - half, x + half);
            let left_secret = cs.expand_with_label(secret.as_bytes(), b"tree", b"left", nh)?;
            let right_secret = cs.expand_with_label(secret.as_bytes(), b"tree", b"right", nh)?;
            if leaf < x {
                self.nodes.insert(right, right_secret);
                (x, secret) = (left, left_secret);
            } else {
                self.nodes.insert(left, left_secret);
                (x, secret) = (right, right_secret);
            }
        }
        Ok(secret)
    }

    /// Whether the component's secret can still be exported.
    pub fn is_available(&self, component_id: ComponentId) -> bool {
        let leaf = 2 * u32::from(component_id);
        self.nodes.keys().any(|&x| covers(x, leaf))
    }

    /// The tree as one secret blob: (node, secret) pairs, 4 bytes of node
    /// index then the Nh-byte secret.
    fn to_secret(&self) -> Secret {
        let mut out = Vec::new();
        for (x, s) in &self.nodes {
            out.extend_from_slice(&x.to_be_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Secret::new(out)
    }

    fn from_secret(blob: &Secret, nh: usize) -> Result<Self, Error> {
        let corrupt = || Error::Base(mlsx_base::StateError::Corrupt.into());
        let mut nodes = BTreeMap::new();
        for chunk in blob.as_bytes().chunks(4 + nh) {
            let (x, s) = chunk.split_first_chunk::<4>().ok_or_else(corrupt)?;
            if s.len() != nh {
                return Err(corrupt());
            }
            nodes.insert(u32::from_be_bytes(*x), Secret::from_slice(s));
        }
        Ok(Self { nodes })
    }
}

/// The epoch-secret slots of a group's current epoch or of a staged
/// commit's new one.
trait Slots {
    fn hash_len(&self) -> usize;
    fn take(&mut self, label: &[u8]) -> Option<Secret>;
    fn put(&mut self, label: &[u8], secret: Secret);
}

impl Slots for Group {
    fn hash_len(&self) -> usize {
        self.cipher_suite_provider().hash_len()
    }
    fn take(&mut self, label: &[u8]) -> Option<Secret> {
        self.take_extra_epoch_secret(label)
    }
    fn put(&mut self, label: &[u8], secret: Secret) {
        self.set_extra_epoch_secret(label, secret);
    }
}

/// Exports from the slots: the tree slot if a component exported before,
/// else the root, which is taken (and so deleted).
fn export_from(slots: &mut impl Slots, cs: &(impl CipherSuiteProvider + ?Sized), id: ComponentId) -> Result<Secret, Error> {
    let nh = slots.hash_len();
    let mut tree = match slots.take(TREE_SLOT) {
        Some(blob) => ExporterTree::from_secret(&blob, nh)?,
        None => ExporterTree::new(slots.take(APPLICATION_EXPORT_LABEL).ok_or(Error::NoExporterTree)?),
    };
    let out = tree.export(cs, id);
    slots.put(TREE_SLOT, tree.to_secret());
    out
}

struct StagedSlots<'a> {
    staged: &'a mut StagedCommit,
    nh: usize,
}

impl Slots for StagedSlots<'_> {
    fn hash_len(&self) -> usize {
        self.nh
    }
    fn take(&mut self, label: &[u8]) -> Option<Secret> {
        self.staged.take_extra_epoch_secret(label)
    }
    fn put(&mut self, label: &[u8], secret: Secret) {
        self.staged.set_extra_epoch_secret(label, secret);
    }
}

impl ComponentKey {
    /// `SafeExportSecret` (§4.4) of this component in the group's current
    /// epoch: once per epoch; the secret is deleted from the group.
    pub fn safe_export_secret(&self, group: &mut Group) -> Result<Secret, Error> {
        let provider = group.cipher_suite_provider_handle();
        export_from(group, provider.as_ref(), self.id())
    }

    /// `SafeExportSecret` of this component in the new epoch of a staged
    /// commit (received, or our own pending one via
    /// [`Group::pending_commit_mut`]), before it is merged; what is consumed
    /// here stays consumed in the merged epoch.
    pub fn safe_export_secret_staged(&self, cs: &(impl CipherSuiteProvider + ?Sized), staged: &mut StagedCommit) -> Result<Secret, Error> {
        let mut slots = StagedSlots { staged, nh: cs.hash_len() };
        export_from(&mut slots, cs, self.id())
    }
}
