/**
 * The bridge from a real 127.0.0.1 port to convex-test's `t.fetch` lives with
 * the simulation (simulation/convexHttpBridge.ts), which runs the chainhook
 * emulator against its backend too; tests keep importing it from here.
 */
export { startConvexHttpBridge, type ConvexHttpBridge } from "../../simulation/convexHttpBridge";
