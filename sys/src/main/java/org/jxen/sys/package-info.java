/** The thin FFM layer over Linux: syscalls, errno, eventfd and epoll; KVM ioctls and structs. No JNI, no C. */
package org.jxen.sys;
