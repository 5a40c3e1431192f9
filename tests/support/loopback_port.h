// Ports on 127.0.0.1 for servers that tests start as separate processes.
// In-process servers should listen on port 0 and ask the server which port
// it got; a child process cannot be asked, so the test picks the port.
#pragma once

namespace qatlab::test_support {

// A port on 127.0.0.1 that was free a moment ago (the kernel chose it for a
// socket that is closed again). Another process may take it before the
// server binds it; the kernel hands out ports in turn, so that is rare.
// Fails the calling test (ADD_FAILURE) and returns -1 when no socket can be
// bound.
int FreeLoopbackPort();

// True when something accepts TCP connections on 127.0.0.1:`port` now: the
// event "the server is listening", to wait for with WaitUntil.
bool LoopbackPortAccepts(int port);

}  // namespace qatlab::test_support
