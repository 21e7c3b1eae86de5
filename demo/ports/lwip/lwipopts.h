/*
 * lwIP options of the unikernel images: no operating system (NO_SYS, the raw callback API driven by
 * the application, as Unikraft's lwip in its cooperative configuration), IPv4 with UDP, TCP, DNS,
 * DHCP and the loopback interface, so a program can send itself packets through the whole stack.
 */
#ifndef LWIPOPTS_H
#define LWIPOPTS_H
#define NO_SYS 1
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_RAW 1
#define LWIP_DNS 1
#define LWIP_DHCP 1
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_IGMP 1
#define LWIP_HAVE_LOOPIF 1
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_LOOPBACK_MAX_PBUFS 64
#define MEM_ALIGNMENT 8
#define MEM_SIZE (64 * 1024)
#define MEMP_NUM_PBUF 64
#define MEMP_NUM_UDP_PCB 8
#define MEMP_NUM_TCP_PCB 8
#define PBUF_POOL_SIZE 32
#define TCP_MSS 1460
#define TCP_WND (4 * TCP_MSS)
#define TCP_SND_BUF (4 * TCP_MSS)
#define LWIP_STATS 0
#define LWIP_RAND() ((u32_t)lwip_port_rand())
#ifndef __ASSEMBLER__
unsigned int lwip_port_rand(void);
#endif
#endif
