/* idle-request HOST PORT IDLE [keepalive]: connect, stay idle IDLE seconds (with SO_KEEPALIVE if asked: probes then
 * follow the kernel's net.ipv4.tcp_keepalive_* sysctls), then send one HTTP/1.0 GET /cgi-bin/who and print the answer's
 * body, or "failed: <why>". For the ipvs-node guest: does an idle connection outlive IPVS's tcp timeout? */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: idle-request HOST PORT IDLE_SECONDS [keepalive]\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_STREAM, 0), on = 1;
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  struct timeval limit = {.tv_sec = 5};
  inet_pton(AF_INET, argv[1], &to.sin_addr);
  if (argc > 4 && strcmp(argv[4], "keepalive") == 0) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
  if (connect(fd, (struct sockaddr *)&to, sizeof to) != 0) {
    printf("failed: connect: %s\n", strerror(errno));
    return 1;
  }
  sleep(atoi(argv[3]));
  const char *get = "GET /cgi-bin/who HTTP/1.0\r\n\r\n";
  if (write(fd, get, strlen(get)) < 0) {
    printf("failed: write: %s\n", strerror(errno));
    return 1;
  }
  char buf[4096];
  size_t got = 0;
  ssize_t n;
  while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0) got += n;
  buf[got] = 0;
  if (got == 0) {
    printf("failed: read: %s\n", n < 0 ? strerror(errno) : "connection closed, nothing read");
    return 1;
  }
  char *body = strstr(buf, "\r\n\r\n");
  printf("%s", body ? body + 4 : buf);
  return 0;
}
