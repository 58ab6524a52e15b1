// Package falcolang tests ruled's Falco-language support end to end:
//
//   - the differential check against the real Falco (../shared/falco/falco,
//     replay mode through libruled.so): conditions over ruled.* fields using
//     every operator and transformer, and the upstream files' conditions
//     rewritten over ruled.* fields, evaluated on the same events by Falco
//     and by ruled's engine, which must agree event by event;
//   - the plugin running a Falco-language rules file named in its init
//     config (its match reaches Falco as ruled.rule);
//   - the live agent running a Falco-language rules file (root: hold
//     /tmp/ruled-kernel.lock when running it by hand).
//
// Under CI=true the tests fail, not skip, when Falco cannot run or root is
// missing.
package falcolang
