/** The wire protocol's version; bumped on any incompatible change (see docs/protocol.md). */
export const PROTOCOL_VERSION = 4;
