// Types for the Clarinet vitest environment: the global `simnet` and the
// Clarity value matchers (toBeOk, toBeErr, toBeUint, ...). The SDK ships them
// as ambient declaration files outside its package exports, so they can only
// be referenced by path.
/* eslint-disable @typescript-eslint/triple-slash-reference */
/// <reference path="../../node_modules/@stacks/clarinet-sdk/vitest-helpers/src/global.d.ts" />
/// <reference path="../../node_modules/@stacks/clarinet-sdk/vitest-helpers/src/vitest.d.ts" />
