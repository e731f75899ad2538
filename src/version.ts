// Kept in sync with package.json by test/unit/version.test.ts (a pure module cannot read files).
export const VERSION = '0.1.0';

/** Default image for the injected containers; the Helm chart overrides it with the published tag. */
export const DEFAULT_IMAGE = `ghostwire:${VERSION}`;
