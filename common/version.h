#ifndef TDM_VERSION_H
#define TDM_VERSION_H
#define TDM_VERSION "0.1.0"
#endif
