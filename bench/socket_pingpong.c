// Loopback TCP ping-pong of small messages between a process and its forked
// child (both traced under `tokentap profile`). Prints "CPU_NS WALL_NS" per
// round trip: the CPU time both processes spent (user + system, which holds
// any BPF program run on their socket calls), and the wall time (on a busy
// machine mostly waiting to be scheduled).
//
// usage: socket_pingpong [ROUND_TRIPS] (default 50000)
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { SIZE = 64 };

static int xfer(int fd, char* buf, int send_it) {
  for (int done = 0; done < SIZE;) {
    ssize_t n = send_it ? write(fd, buf + done, SIZE - done) : read(fd, buf + done, SIZE - done);
    if (n <= 0) return -1;
    done += (int)n;
  }
  return 0;
}

static double cpu_s(int who) {
  struct rusage ru;
  getrusage(who, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 50000;
  int one = 1, srv = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t alen = sizeof(a);
  if (srv < 0 || bind(srv, (struct sockaddr*)&a, sizeof(a)) || listen(srv, 1) ||
      getsockname(srv, (struct sockaddr*)&a, &alen)) {
    perror("socket_pingpong: listen");
    return 1;
  }
  char buf[SIZE] = {0};
  pid_t child = fork();
  if (child == 0) {
    int c = accept(srv, NULL, NULL);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    while (xfer(c, buf, 0) == 0 && xfer(c, buf, 1) == 0) {
    }
    _exit(0);
  }
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, (struct sockaddr*)&a, sizeof(a))) {
    perror("socket_pingpong: connect");
    return 1;
  }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  struct timespec t0, t1;
  double c0 = cpu_s(RUSAGE_SELF);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++)
    if (xfer(s, buf, 1) || xfer(s, buf, 0)) return 1;
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double c1 = cpu_s(RUSAGE_SELF);
  close(s);
  waitpid(child, NULL, 0);
  double cpu = c1 - c0 + cpu_s(RUSAGE_CHILDREN);
  double wall = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("%.0f %.0f\n", cpu * 1e9 / n, wall * 1e9 / n);
  return 0;
}
