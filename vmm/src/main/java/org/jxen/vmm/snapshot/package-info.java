/**
 * Versioned snapshot sections: the container a save file is, and what a live migration streams. A container is a
 * header (magic, format version) then tagged sections, each with its own payload version, length and CRC32C
 * ({@link org.jxen.vmm.snapshot.SnapshotFormat}); {@link org.jxen.vmm.snapshot.SnapshotWriter} and
 * {@link org.jxen.vmm.snapshot.SnapshotReader} work over any stream. Each component's state is a section through its
 * {@link org.jxen.vmm.snapshot.SectionCodec}; RAM is streamed ({@link org.jxen.vmm.snapshot.RamSections}). A reader
 * treats the stream as untrusted: every damage is one {@link org.jxen.vmm.snapshot.SnapshotException} naming its
 * section. Format in docs/save-format.md.
 */
package org.jxen.vmm.snapshot;
