// Command helpers is the scenario suite's stand-in for real workloads and
// attack tools inside a test container: a "java" that runs commands the way
// Runtime.exec does, an "nginx" that writes its own log, an "apt-get", an
// "sshd" that reads /etc/shadow, a memfd_create+execveat fileless executor, a
// ptrace attacher and a kernel module loader that only ever offers garbage.
// The suite builds it with CGO_ENABLED=0 and links it under each name.
package main
