/* version.h — denet's version, one place. */
#ifndef DENET_VERSION_H
#define DENET_VERSION_H
#define DN_VERSION "0.1.0"
#endif
