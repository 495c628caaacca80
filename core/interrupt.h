// Ctrl-C handling for trainers: the first SIGINT/SIGTERM sets a flag that the training loop polls after
// each step (it then saves a checkpoint and exits cleanly); a second one ends the process at once.
#pragma once

namespace lrec {

void install_interrupt_handler();
bool interrupted();

// Exit status of a run that stopped on Ctrl-C after saving (the shell's 128 + SIGINT).
inline constexpr int kInterruptedExitCode = 130;

}  // namespace lrec
