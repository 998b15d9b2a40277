// Types for the Clarinet vitest environment: the global `simnet` and the
// Clarity value matchers (toBeOk, toBeErr, toBeUint, ...).
/// <reference path="../../node_modules/@stacks/clarinet-sdk/vitest-helpers/src/global.d.ts" />
/// <reference path="../../node_modules/@stacks/clarinet-sdk/vitest-helpers/src/vitest.d.ts" />
